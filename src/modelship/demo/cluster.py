"""The demo's infrastructure: a fresh local cluster, and the operator deployed into it the way a
real cluster runs it (manifests/default, its own ServiceAccount and RBAC)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from modelship.demo.narrator import DemoError, Narrator
from modelship.devcluster.cluster import DevCluster
from modelship.devcluster.kubeapi import ApiEndpoint, KubeClient
from modelship.devcluster.webhooks import point_webhooks, served_certificate
from modelship.operator.deployment.rollout import rollout_complete
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import APPS_DEPLOYMENTS, PODS

OPERATOR_NAMESPACE = "modelship-system"
OPERATOR_PODS = {"app.kubernetes.io/name": "modelship", "app.kubernetes.io/component": "operator"}
WEBHOOK_PORT = 9443


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
    serve_webhooks(root, kubeconfig, kube, say)
    say.say(
        f"operator running as ServiceAccount {OPERATOR_NAMESPACE}/modelship-operator "
        f"(logs: modelship dev logs -n {OPERATOR_NAMESPACE} <pod>)"
    )


def serve_webhooks(root: Path, kubeconfig: Path, kube: Kube, say: Narrator) -> None:
    """Point the approval webhooks at an operator pod by address (nothing on the local cluster
    routes their Service to a pod), trusting the certificate that pod presents."""
    pods = [
        p
        for p in kube.list(PODS, OPERATOR_NAMESPACE, OPERATOR_PODS)
        if (p.get("status") or {}).get("phase") == "Running"
        and p["status"].get("podIP")
        and not p["metadata"].get("deletionTimestamp")
    ]
    if not pods:
        raise DemoError("no running operator pod to serve the approval webhook")
    address = pods[0]["status"]["podIP"]
    with KubeClient(ApiEndpoint.from_kubeconfig(kubeconfig)) as client:
        point_webhooks(
            client,
            root / "manifests" / "webhook" / "webhooks.yaml",
            f"https://{address}:{WEBHOOK_PORT}",
            served_certificate(address, WEBHOOK_PORT),
        )
    say.say(
        f"approval webhook: https://{address}:{WEBHOOK_PORT} (pod {pods[0]['metadata']['name']});"
        " approvals are checked against RBAC and recorded with the approver's identity"
    )


def _kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    kubectl = Path(sys.executable).parent / "kubectl"
    command = [str(kubectl if kubectl.exists() else "kubectl"), "--kubeconfig", str(kubeconfig)]
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise DemoError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def stop_demo(dev_dir: Path) -> None:
    """Stop the demo cluster (the local node stops every pod process, the operator's included)
    and delete its state: a demo cluster is disposable."""
    DevCluster(dev_dir).down()
    shutil.rmtree(dev_dir, ignore_errors=True)
