"""End-to-end fixtures: the operator deployed into the local cluster as `make deploy` does."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship.operator.kube import APPS_DEPLOYMENTS, PODS, Kube, load_api_client
from support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = "modelship-system"


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "kubectl"), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=check,
    )


@pytest.fixture(scope="module")
def cluster_kube(dev_cluster: Any) -> Iterator[Kube]:
    client = Kube(load_api_client(str(dev_cluster.kubeconfig)))
    yield client
    client.close()


@pytest.fixture(scope="module")
def in_cluster_operator(dev_cluster: Any, cluster_kube: Kube) -> Iterator[None]:
    """`kubectl apply -k manifests/default`; the local node runs the operator pod with its own
    ServiceAccount token, so the loop below exercises the shipped RBAC for real."""
    kubectl(dev_cluster.kubeconfig, "apply", "-k", str(ROOT / "manifests" / "default"))
    wait_for(
        lambda: (
            (cluster_kube.get(APPS_DEPLOYMENTS, SYSTEM, "modelship-operator") or {}).get("status")
            or {}
        ).get("availableReplicas"),
        timeout=120,
        what="the operator Deployment to be available",
    )
    yield
    # Remove only the operator: the CRDs stay for the rest of the session's tests.
    cluster_kube.delete(APPS_DEPLOYMENTS, SYSTEM, "modelship-operator")
    wait_for(
        lambda: not cluster_kube.list(PODS, SYSTEM, {"app.kubernetes.io/component": "operator"}),
        timeout=90,
        what="the operator pod to be gone",
    )
