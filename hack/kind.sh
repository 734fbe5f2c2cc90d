#!/usr/bin/env bash
# Modelship on kind: the same manifests and tests as the local cluster, in containers.
# Needs docker and kind; not exercised by CI here (no Docker daemon).
#
#   hack/kind.sh up     create the cluster (once), build the image, load it, deploy
#   hack/kind.sh demo   up, then train and test-stage the iris sample in namespace `ml`
#   hack/kind.sh e2e    up, then the end-to-end tests against that cluster
set -euo pipefail

CLUSTER=${KIND_CLUSTER:-modelship}
IMAGE=${IMAGE:-modelship:0.1.0}
KUBECTL=${KUBECTL:-kubectl}
NAMESPACE=${DEMO_NAMESPACE:-ml}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KUBECONFIG_FILE=${KIND_KUBECONFIG:-$ROOT/.modelship/kind/kubeconfig}
export KUBECONFIG=$KUBECONFIG_FILE

up() {
  mkdir -p "$(dirname "$KUBECONFIG_FILE")"
  if ! kind get clusters | grep -qx "$CLUSTER"; then
    # KIND_NODE_IMAGE pins the Kubernetes version (e.g. kindest/node:v1.24.17).
    kind create cluster --name "$CLUSTER" --wait 120s ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}
  fi
  kind export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG_FILE"
  docker build -t "$IMAGE" "$ROOT"
  kind load docker-image "$IMAGE" --name "$CLUSTER"
  # The same manifests `make deploy` applies; the image is the one just loaded.
  "$KUBECTL" apply -k "$ROOT/manifests/default"
  "$KUBECTL" -n modelship-system rollout status deployment/modelship-operator --timeout=180s
  # No cert-manager here, and nothing to do by hand: the operator issues the approval webhook's
  # certificate and sets the configurations' caBundle; the API server calls it via its Service.
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
}

demo() {
  up
  "$KUBECTL" create namespace "$NAMESPACE" --dry-run=client -o yaml | "$KUBECTL" apply -f -
  "$KUBECTL" label namespace "$NAMESPACE" --overwrite pod-security.kubernetes.io/enforce=restricted
  "$KUBECTL" apply -n "$NAMESPACE" -k "$ROOT/manifests/samples"
  "$KUBECTL" -n "$NAMESPACE" wait mdl/iris --for=condition=Ready --timeout=600s
  "$KUBECTL" -n "$NAMESPACE" get mdl,tj,mdep
  echo "next: kubectl -n $NAMESPACE get mdep -w; then modelship approve iris -n $NAMESPACE"
}

e2e() {
  up
  # The end-to-end suite uses this cluster (and the operator deployed above) instead of
  # starting the local one.
  MODELSHIP_TEST_KUBECONFIG=$KUBECONFIG_FILE MODELSHIP_TEST_OPERATOR=in-cluster \
    "$ROOT/.venv/bin/pytest" "$ROOT/tests/e2e"
}

case "${1:-}" in
  up|demo|e2e) "$1" ;;
  *) echo "usage: $0 up|demo|e2e" >&2; exit 2 ;;
esac
