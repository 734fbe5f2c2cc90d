"""The operator deployed from manifests/default runs the loop inside the local cluster.

`kubectl apply -k manifests/default`, exactly as `make deploy` does: the local node runs the
operator pod (image `modelship:*`) as a process, with its ServiceAccount's token mounted and
in-cluster configuration, so every API call the operator makes goes through the ClusterRole in
manifests/rbac. Then an iris Model is trained, tested, approved and served, as a user would.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import LEASES, MODEL_DEPLOYMENTS, MODELS, PDBS, PVCS
from support.in_cluster import InClusterOperator
from support.kubectl import MANIFESTS, Kubectl
from support.live import wait_for_status
from support.operator import OperatorProcess
from support.waiting import wait_for

pytestmark = pytest.mark.integration
OPERATOR = "system:serviceaccount:modelship-system:modelship-operator"
SAMPLES = str(MANIFESTS / "samples")


def test_the_operator_pod_runs_as_its_serviceaccount_and_answers_its_probe(
    in_cluster_operator: InClusterOperator,
) -> None:
    pod = in_cluster_operator.running_pod()
    assert pod is not None
    assert pod["spec"]["serviceAccountName"] == "modelship-operator"
    mounts = {m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert "/var/run/secrets/kubernetes.io/serviceaccount" in mounts
    # The liveness endpoint listens on the pod's address, where the kubelet probes it.
    response = httpx.get(f"http://{pod['status']['podIP']}:8080/healthz", timeout=5)
    assert response.status_code == 200


def test_an_iris_model_trains_passes_its_tests_and_reaches_production(
    in_cluster_operator: InClusterOperator, kube: Kube, namespace: str, kubectl: Kubectl
) -> None:
    kubectl("apply", "-n", namespace, "-k", SAMPLES)
    status = wait_for_status(
        kube,
        MODELS,
        namespace,
        "iris",
        lambda s: s.get("latestVersion"),
        timeout=300,
        what="the iris Model to report a trained version",
        describe=in_cluster_operator.describe,
    )
    assert status["latestVersion"]["version"] == 1
    # The operator created the catalog claim it needed, under its own RBAC.
    assert kube.get(PVCS, namespace, "modelship-catalog") is not None

    tested = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: (s.get("test") or {}).get("passed") is not None,
        timeout=300,
        what="the iris Deployment's test stage to finish its acceptance run",
        describe=in_cluster_operator.describe,
    )
    assert tested
    assert tested["test"]["passed"] is True, tested
    assert tested["test"]["version"] == 1

    # Approve as a user would; production then rolls out (Deployment, Service, PDB).
    subprocess.run(
        [sys.executable, "-m", "modelship.cli", "approve", "iris", "-n", namespace,
         "--kubeconfig", str(kubectl.kubeconfig)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    serving = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: s.get("phase") == "Serving",
        timeout=300,
        what="the iris Deployment to serve version 1 in production",
        describe=in_cluster_operator.describe,
    )
    assert serving["production"]["version"] == 1
    assert serving["production"]["readyReplicas"] == 2
    assert kube.get(PDBS, namespace, "iris") is not None  # two replicas: a disruption budget

    # Deleting them is the operator's business too (its finalizers); kubectl waits for it.
    kubectl("delete", "-n", namespace, "-k", SAMPLES, "--timeout=120s")
    assert kube.get(MODELS, namespace, "iris") is None
    logs = in_cluster_operator.logs()
    assert f'User "{OPERATOR}" cannot' not in logs, logs
    assert "Not enough permissions" not in logs, logs


def test_make_run_beside_the_deployed_operator_stands_by(
    in_cluster_operator: InClusterOperator,
    cluster_kubeconfig: Path,
    kube: Kube,
    tmp_path: Path,
) -> None:
    """A developer's `make run` against a cluster whose operator is deployed: it only waits."""
    assert in_cluster_operator.running_pod() is not None  # one of the two replicas leads

    def holder() -> str:
        lease = kube.get(LEASES, "modelship-system", "modelship-operator") or {}
        return str((lease.get("spec") or {}).get("holderIdentity") or "")

    leader = holder()
    local = OperatorProcess(cluster_kubeconfig, tmp_path)  # what `make run` starts
    local.start()
    try:
        wait_for(lambda: "standing by" in local.tail(200), timeout=30, what="a standby log line")
        time.sleep(5)  # a few renewals of the deployed leader
        assert holder() == leader
        assert "leading" not in local.tail(200)
    finally:
        local.stop()
