#!/usr/bin/env bash
# The Debian packages the local cluster needs (Debian 12), installed only when missing:
# `make demo`, `make test`, `make cluster-up` and `make control-plane` run this every time, so it
# returns at once when everything is there. Run as root it installs what is missing; as another
# user it names what is missing and the one command to run, and fails.
#  - make: the project's commands;
#  - util-linux (unshare) and iproute2 (ip): per-pod mount and network isolation on the local node;
#  - nftables (nft): kube-proxy programs the cluster's Services with it (nftables mode);
#  - ca-certificates: the Go module proxy and PyPI over TLS; openssl: the cluster's certificates;
#  - prometheus: its promtool checks and unit-tests the alert rules (tests/unit/test_alert_rules.py);
#    where services start on install, Debian starts a Prometheus daemon too, which is harmless;
#  - docker-registry: the OCI registry the local cluster runs as its default model catalog;
#  - libgomp1: the OpenMP runtime of scikit-learn's, XGBoost's and LightGBM's wheels;
#  - python3-venv, only when $PYTHON (default python3) cannot create the project's .venv.
# etcd and the Kubernetes control plane are built from their Go modules on first use (Debian 12 has
# neither a current Kubernetes nor a current Go): that needs a current Go (https://go.dev/dl/).
set -euo pipefail
PYTHON="${PYTHON:-python3}"
PACKAGES=(make util-linux iproute2 nftables ca-certificates openssl prometheus docker-registry libgomp1)

if ! command -v dpkg-query >/dev/null; then
  echo "install-system-deps: not a Debian system, nothing checked; the local cluster needs" \
    "unshare, ip, openssl, a current Go and an OCI registry (see README)" >&2
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
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "The local cluster needs Debian packages that are missing: ${missing[*]}." >&2
  echo "Run once, as root:  sudo make system-deps" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
