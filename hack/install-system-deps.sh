#!/usr/bin/env bash
# Installs the Debian packages the local control plane needs (run as root, Debian 12).
#  - etcd-server: the etcd the dev cluster runs;
#  - golang-go, rsync, make, golang-github-modern-go-reflect2-dev: the first-run build of
#    kube-apiserver and kube-controller-manager from Debian's Kubernetes source package;
#  - a deb-src entry for bookworm, so `apt-get source kubernetes` can fetch that source.
#  - util-linux (unshare) and iproute2 (ip): per-pod mount and network isolation on the local node.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! grep -rqs "^Types: deb-src" /etc/apt/sources.list.d/ && ! grep -qs "^deb-src" /etc/apt/sources.list; then
  cat > /etc/apt/sources.list.d/modelship-deb-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -q
apt-get install -y -q --no-install-recommends \
  etcd-server golang-go rsync make dpkg-dev golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev \
  util-linux iproute2 ca-certificates openssl
