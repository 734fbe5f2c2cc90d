"""The demo's infrastructure: a fresh local cluster, and the operator deployed into it the way a
real cluster runs it (manifests/default, its own ServiceAccount and RBAC, its approval webhook
called through its Service with the certificates the operator issues itself)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from modelship.demo.narrator import DemoError, Narrator
from modelship.devcluster.cluster import DevCluster
from modelship.operator.deployment.rollout import rollout_complete
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import APPS_DEPLOYMENTS, PODS

OPERATOR_NAMESPACE = "modelship-system"
OPERATOR_PODS = {"app.kubernetes.io/name": "modelship", "app.kubernetes.io/component": "operator"}
# A modelship Deployment created with --dry-run=server passes both webhooks and is not stored.
WEBHOOK_PROBE = """\
apiVersion: modelship.io/v1alpha1
kind: Deployment
metadata: {name: webhook-probe, namespace: default}
spec: {modelRef: {name: webhook-probe}}
"""


def start_cluster(root: Path, dev_dir: Path, say: Narrator) -> DevCluster:
    say.step("Local cluster: etcd, kube-apiserver, controller manager, scheduler, local node")
    if dev_dir.exists():  # a demo always starts from an empty cluster
        stop_demo(dev_dir)
    cluster = DevCluster(dev_dir)
    cluster.up(crds_dir=root / "crds")
    with cluster.client() as client:
        version = client.get("/version")["gitVersion"]
    say.say(f"API server {version} ready; kubeconfig {cluster.kubeconfig}")
    return cluster


def start_operator(
    root: Path, kubeconfig: Path, kube: Kube, say: Narrator, *, catalog_uri: str = ""
) -> None:
    """Deploy the operator the way a cluster runs it: manifests/default, its own RBAC; with
    `catalog_uri`, the cluster's registry is every namespace's catalog."""
    say.step("Operator: kubectl apply -k manifests/default (runs in the cluster)")
    result = _kubectl(kubeconfig, "apply", "-k", str(root / "manifests" / "default"))
    say.say(f"applied {len(result.stdout.splitlines())} objects: CRDs, RBAC, the operator")
    if catalog_uri:
        setting = f"MODELSHIP_OPERATOR_CATALOG_URI={catalog_uri}"
        _kubectl(kubeconfig, "-n", OPERATOR_NAMESPACE, "set", "env",
                 "deployment/modelship-operator", setting)  # fmt: skip
        say.say(f"catalog: the cluster's registry, {catalog_uri} (no volume per namespace)")

    def rolled_out() -> bool:
        # Every replica runs the last template: with `set env` above, a replica of the first
        # template could otherwise lead for a moment and train into the wrong catalog. A
        # terminating pod of that template still runs (and may hold the Lease) although the
        # Deployment no longer counts it, so it must be gone too.
        deployment = kube.get(APPS_DEPLOYMENTS, OPERATOR_NAMESPACE, "modelship-operator")
        if not rollout_complete(deployment):
            return False
        assert deployment is not None
        pods = kube.list(PODS, OPERATOR_NAMESPACE, OPERATOR_PODS)
        return len(pods) == int(deployment["spec"]["replicas"])

    say.wait("the operator Deployment to be rolled out", rolled_out, timeout=180)
    wait_for_webhook(kubeconfig, say)
    say.say(
        f"operator running as ServiceAccount {OPERATOR_NAMESPACE}/modelship-operator "
        f"(logs: modelship dev logs -n {OPERATOR_NAMESPACE} <pod>)"
    )


def wait_for_webhook(kubeconfig: Path, say: Narrator) -> None:
    """Nothing is pointed by hand: the operator's leader issued the webhook's certificate and
    set the configurations' caBundle; wait until a write is admitted through the Service."""

    def answers() -> bool:
        try:
            _kubectl(kubeconfig, "create", "--dry-run=server", "-f", "-", stdin=WEBHOOK_PROBE)
        except DemoError:
            return False
        return True

    say.wait("the approval webhook to answer through its Service", answers, timeout=120)
    say.say(
        "approval webhook: Service modelship-operator-webhook, certificate issued and rotated by "
        "the operator; approvals are checked against RBAC and recorded with the approver's "
        "identity"
    )


def _kubectl(
    kubeconfig: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    kubectl = Path(sys.executable).parent / "kubectl"
    command = [str(kubectl if kubectl.exists() else "kubectl"), "--kubeconfig", str(kubeconfig)]
    result = subprocess.run(
        [*command, *args], input=stdin, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise DemoError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def stop_demo(dev_dir: Path) -> None:
    """Stop the demo cluster (the local node stops every pod process, the operator's included)
    and delete its state: a demo cluster is disposable."""
    DevCluster(dev_dir).down()
    shutil.rmtree(dev_dir, ignore_errors=True)
