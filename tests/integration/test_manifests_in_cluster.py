"""The operator deployed from manifests/default runs the loop inside the local cluster.

`kubectl apply -k manifests/default`, exactly as `make deploy` does: the local node runs the
operator pod (image `modelship:*`) as a process, with its ServiceAccount's token mounted and
in-cluster configuration, so every API call the operator makes goes through the ClusterRole in
manifests/rbac. Then an iris Model is trained, tested, approved and served, as a user would.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest

from modelship.operator.kube import MODEL_DEPLOYMENTS, MODELS, PDBS, PVCS, Kube
from support.waiting import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
KUBECTL = str(ROOT / ".venv" / "bin" / "kubectl")
SYSTEM = "modelship-system"
OPERATOR = "system:serviceaccount:modelship-system:modelship-operator"
SELECTOR = "app.kubernetes.io/name=modelship,app.kubernetes.io/component=operator"


def kubectl(kubeconfig: Path, *args: str) -> str:
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stderr}"
    return result.stdout


class InClusterOperator:
    def __init__(self, kubeconfig: Path, api: Any) -> None:
        self.kubeconfig = kubeconfig
        self.core = kubernetes.client.CoreV1Api(api)

    def pods(self) -> list[Any]:
        return list(self.core.list_namespaced_pod(SYSTEM, label_selector=SELECTOR).items)

    def running_pod(self) -> Any:
        pods = [p for p in self.pods() if p.metadata.deletion_timestamp is None]
        ready = [
            p
            for p in pods
            if p.status.phase == "Running"
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        return ready[0] if len(ready) == 1 and len(pods) == 1 else None

    def logs(self) -> str:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), "logs", "-n", SYSTEM,
             "deployment/modelship-operator"],
            capture_output=True, text=True, timeout=60,
        ).stdout  # fmt: skip

    def describe(self) -> str:
        pods = [(p.metadata.name, p.status.phase, p.status.container_statuses) for p in self.pods()]
        return f"pods: {pods}\nlogs:\n{self.logs()}"


@pytest.fixture(scope="module")
def in_cluster_operator(dev_cluster: Any, kube_api: Any) -> Iterator[InClusterOperator]:
    kubectl(dev_cluster.kubeconfig, "apply", "-k", str(ROOT / "manifests" / "default"))
    operator = InClusterOperator(dev_cluster.kubeconfig, kube_api)
    try:
        wait_for(
            operator.running_pod,
            timeout=180,
            what="the operator pod to run",
            describe=operator.describe,
        )
        yield operator
    finally:
        # Only the Deployment goes: `make undeploy` would delete the CRDs, and with them what
        # the rest of the session's tests use. No second operator may outlive this module.
        kubectl(dev_cluster.kubeconfig, "delete", "deployment", "modelship-operator", "-n",
                SYSTEM, "--ignore-not-found", "--wait=true")  # fmt: skip
        wait_for(lambda: not operator.pods(), timeout=120, what="the operator pod to go")


def test_the_operator_pod_runs_as_its_serviceaccount_and_answers_its_probe(
    in_cluster_operator: InClusterOperator,
) -> None:
    pod = in_cluster_operator.running_pod()
    assert pod.spec.service_account_name == "modelship-operator"
    mounts = {m.mount_path for m in pod.spec.containers[0].volume_mounts}
    assert "/var/run/secrets/kubernetes.io/serviceaccount" in mounts
    # The liveness endpoint listens on the pod's address, where the kubelet probes it.
    response = httpx.get(f"http://{pod.status.pod_ip}:8080/healthz", timeout=5)
    assert response.status_code == 200


def test_an_iris_model_trains_passes_its_tests_and_reaches_production(
    in_cluster_operator: InClusterOperator, kube: Kube, namespace: str, dev_cluster: Any
) -> None:
    samples = str(ROOT / "manifests" / "samples")
    kubectl(dev_cluster.kubeconfig, "apply", "-n", namespace, "-k", samples)

    def model_status() -> dict[str, Any]:
        return dict((kube.get(MODELS, namespace, "iris") or {}).get("status") or {})

    status = wait_for(
        lambda: model_status() if model_status().get("latestVersion") else None,
        timeout=300,
        what="the iris Model to report a trained version",
        describe=lambda: f"{model_status()}\n{in_cluster_operator.describe()}",
    )
    assert status["latestVersion"]["version"] == 1
    # The operator created the catalog claim it needed, under its own RBAC.
    assert kube.get(PVCS, namespace, "modelship-catalog") is not None

    def deployment_status() -> dict[str, Any]:
        return dict((kube.get(MODEL_DEPLOYMENTS, namespace, "iris") or {}).get("status") or {})

    tested = wait_for(
        lambda: (deployment_status().get("test") or {}).get("passed") is not None,
        timeout=300,
        what="the iris Deployment's test stage to finish its acceptance run",
        describe=lambda: f"{deployment_status()}\n{in_cluster_operator.describe()}",
    )
    assert tested
    assert deployment_status()["test"]["passed"] is True, deployment_status()
    assert deployment_status()["test"]["version"] == 1

    # Approve as a user would; production then rolls out (Deployment, Service, PDB).
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "modelship"), "approve", "iris", "-n", namespace,
         "--by", "tests", "--kubeconfig", str(dev_cluster.kubeconfig)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    serving = wait_for(
        lambda: (lambda s: s if s.get("phase") == "Serving" else None)(deployment_status()),
        timeout=300,
        what="the iris Deployment to serve version 1 in production",
        describe=lambda: f"{deployment_status()}\n{in_cluster_operator.describe()}",
    )
    assert serving["production"]["version"] == 1
    assert serving["production"]["readyReplicas"] == 2
    assert kube.get(PDBS, namespace, "iris") is not None  # two replicas: a disruption budget

    # Deleting them is the operator's business too (its finalizers); kubectl waits for it.
    kubectl(dev_cluster.kubeconfig, "delete", "-n", namespace, "-k", samples, "--timeout=120s")
    assert kube.get(MODELS, namespace, "iris") is None
    logs = in_cluster_operator.logs()
    assert f'User "{OPERATOR}" cannot' not in logs, logs
    assert "Not enough permissions" not in logs, logs
