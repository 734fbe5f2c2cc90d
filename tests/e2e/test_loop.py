"""The whole loop as a user drives it, with the operator running inside the local cluster.

train -> test stage -> acceptance -> approve (the CLI) -> production -> predict -> retrain ->
test -> approve -> production on the new version -> delete everything and see it cleaned up.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import (
    APPS_DEPLOYMENTS,
    JOBS,
    MODEL_DEPLOYMENTS,
    PDBS,
    PODS,
    PVCS,
    SERVICES,
    TRAINING_JOBS,
)
from support.in_cluster import InClusterOperator
from support.kubectl import MANIFESTS, Kubectl
from support.live import awaiting_approval, infer, production_pod_ips, retrain, wait_for_status
from support.through_service import predict_from_a_pod, predict_through_cluster_ip
from support.waiting import wait_for

pytestmark = pytest.mark.e2e
SAMPLES = MANIFESTS / "samples"
ROW = [6.7, 3.0, 5.2, 2.3]  # a virginica


def approve(kubeconfig: Path, namespace: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelship.cli",
            "approve",
            "iris",
            "-n",
            namespace,
            "--kubeconfig",
            str(kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def predict(kube: Kube, namespace: str, version: int) -> Any:
    pods = production_pod_ips(kube, namespace, "iris", version)
    assert pods, "no production pod of that version"
    with httpx.Client(timeout=10, trust_env=False) as client:
        return infer(client, pods[0], "iris", [ROW])[0]


def test_the_loop_end_to_end(
    in_cluster_operator: InClusterOperator, kube: Kube, namespace: str, kubectl: Kubectl
) -> None:
    kubeconfig = kubectl.kubeconfig
    started = time.monotonic()
    kubectl("apply", "-n", namespace, "-k", str(SAMPLES))

    # train, test stage, acceptance: production stays empty until approval
    status = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: s.get("phase") == "AwaitingApproval",
        timeout=180,
        what="AwaitingApproval",
    )
    to_awaiting = time.monotonic() - started
    assert status["test"]["version"] == 1 and status["test"]["passed"] is True
    assert kube.get(APPS_DEPLOYMENTS, namespace, "iris") is None

    # approve with the CLI; production rolls out with two ready replicas and a PDB
    assert "approved version 1" in approve(kubeconfig, namespace)
    wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: s.get("phase") == "Serving",
        timeout=120,
        what="Serving version 1",
    )
    assert kube.get(PDBS, namespace, "iris") is not None
    assert predict(kube, namespace, 1) == 2
    # as users call it: through the Service's ClusterIP, and by its DNS name from a pod
    assert predict_through_cluster_ip(kube, namespace, "iris", ROW) == 2
    assert predict_from_a_pod(kube, namespace, "iris", ROW) == 2

    # retrain: version 2 goes to the test stage, production keeps version 1 until approved
    retrain(kube, namespace, "iris", "e2e")
    status = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        awaiting_approval(2),
        timeout=180,
        what="version 2 awaiting approval",
    )
    assert status["production"]["version"] == 1
    tjs = kube.list(TRAINING_JOBS, namespace)
    assert sorted(t["spec"]["trigger"] for t in tjs) == ["manual", "spec-change"]

    assert "approved version 2" in approve(kubeconfig, namespace)
    status = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: s.get("phase") == "Serving" and s["production"]["version"] == 2,
        timeout=120,
        what="Serving version 2",
    )
    assert status["previous"]["version"] == 1
    assert [h["event"] for h in status["history"]][:2] == ["Promoted", "Promoting"]
    assert predict(kube, namespace, 2) == 2
    print(
        f"\ne2e: applied -> AwaitingApproval {to_awaiting:.1f}s; whole loop "
        f"{time.monotonic() - started:.1f}s"
    )

    # delete everything: children go, the catalog claim stays (it holds every version)
    kubectl("delete", "-n", namespace, "-k", str(SAMPLES), "--wait=true", timeout=120)
    for res in (TRAINING_JOBS, JOBS, APPS_DEPLOYMENTS, SERVICES, PDBS):
        wait_for(
            lambda res=res: (
                not [
                    o
                    for o in kube.list(res, namespace)
                    if o["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by")
                    == "modelship"
                    or res is TRAINING_JOBS
                ]
            ),
            timeout=120,
            what=f"{res.plural} to be deleted",
        )
    wait_for(
        lambda: (
            not [
                p
                for p in kube.list(PODS, namespace)
                if p["metadata"].get("labels", {}).get("modelship.io/model")
            ]
        ),
        timeout=120,
        what="the model's pods to be gone",
    )
    assert kube.get(PVCS, namespace, "modelship-catalog") is not None
