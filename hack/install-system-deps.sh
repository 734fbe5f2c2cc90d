#!/usr/bin/env bash
# The Debian packages the local control plane needs (Debian 12), installed only when missing:
# `make demo`, `make test`, `make cluster-up` and `make control-plane` run this every time, so it
# returns at once when everything is there. Run as root it installs what is missing; as another
# user it names what is missing and the one command to run, and fails.
#  - etcd-server: the etcd the dev cluster runs;
#  - golang-go, rsync, make, dpkg-dev, golang-github-modern-go-reflect2-dev,
#    golang-github-json-iterator-go-dev: the first-run build of kube-apiserver and
#    kube-controller-manager from Debian's Kubernetes source package;
#  - a deb-src entry for bookworm and its index, so `apt-get source kubernetes` can fetch that source;
#  - util-linux (unshare) and iproute2 (ip): per-pod mount and network isolation on the local node;
#  - prometheus: its promtool checks and unit-tests the alert rules (tests/unit/test_alert_rules.py);
#    where services start on install, Debian starts a Prometheus daemon too, which is harmless;
#  - docker-registry: the OCI registry the local cluster runs as its default model catalog;
#  - libgomp1: the OpenMP runtime LightGBM's wheel links against (trainer and server pods of the
#    local node run the checkout's .venv; the Dockerfile installs it in the image);
#  - python3-venv, only when $PYTHON (default python3) cannot create the project's .venv.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
PACKAGES=(etcd-server golang-go rsync make dpkg-dev golang-github-modern-go-reflect2-dev
  golang-github-json-iterator-go-dev util-linux iproute2 ca-certificates openssl prometheus
  docker-registry libgomp1)
APT_ETC="${APT_ETC:-/etc/apt}"  # tests point it at a directory of their own

has_deb_src() {
  grep -rqs "^Types: deb-src" "$APT_ETC/sources.list.d/" || grep -qs "^deb-src" "$APT_ETC/sources.list"
}

# The entry alone is not enough: `apt-get source` needs the source index an `apt-get update` fetches.
has_source_index() {
  # grep reads it all: with -q it could exit early, and pipefail would count the SIGPIPE
  apt-cache showsrc kubernetes 2>/dev/null | grep "^Package: kubernetes$" >/dev/null
}

if ! command -v dpkg-query >/dev/null; then
  echo "install-system-deps: not a Debian system, nothing checked; the local cluster needs etcd," \
    "unshare and ip, and its first build Go 1.19 and the Kubernetes 1.20 source (see README)" >&2
  exit 0
fi

missing=()
for package in "${PACKAGES[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" = "install ok installed" ] ||
    missing+=("$package")
done
if ! "$PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
  missing+=(python3-venv)
fi
if [ ${#missing[@]} -eq 0 ] && has_deb_src && has_source_index; then
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  what="${missing[*]:-}"
  if ! has_deb_src; then
    what="${what:+$what and }a deb-src entry for bookworm"
  elif ! has_source_index; then
    what="${what:+$what and }the source index of that entry (apt-get update)"
  fi
  echo "The local cluster needs Debian packages that are missing: $what." >&2
  echo "Run once, as root:  sudo make system-deps" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! has_deb_src; then
  cat > "$APT_ETC/sources.list.d/modelship-deb-src.sources" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
