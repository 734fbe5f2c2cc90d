"""End-to-end fixtures: the operator deployed into the local cluster as `make deploy` does."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship.operator.kube import APPS_DEPLOYMENTS, PODS, Kube
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


def _rolled_out(deployment: dict[str, Any] | None) -> bool:
    if not deployment:
        return False
    status = deployment.get("status") or {}
    return bool(
        status.get("observedGeneration", 0) >= deployment["metadata"]["generation"]
        and status.get("updatedReplicas") == 1
        and status.get("availableReplicas") == 1
        and status.get("replicas") == 1
    )


@pytest.fixture(scope="module")
def in_cluster_operator(
    request: pytest.FixtureRequest, dev_cluster: Any, kube: Kube
) -> Iterator[None]:
    """`kubectl apply -k manifests/default`; the local node runs the operator pod with its own
    ServiceAccount token, so the tests exercise the shipped RBAC for real. A test module may set
    `OPERATOR_ENV` (e.g. a short drift interval): it is added to the rendered Deployment, so the
    operator starts with it."""
    rendered = [
        doc
        for doc in yaml.safe_load_all(
            kubectl(dev_cluster.kubeconfig, "kustomize", str(ROOT / "manifests" / "default")).stdout
        )
        if doc
    ]
    overrides: dict[str, str] = getattr(request.module, "OPERATOR_ENV", {})
    for doc in rendered:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "modelship-operator":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            env = [e for e in container.get("env", []) if e["name"] not in overrides]
            container["env"] = env + [{"name": k, "value": v} for k, v in overrides.items()]
    subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "kubectl"),
            "--kubeconfig",
            str(dev_cluster.kubeconfig),
            "apply",
            "-f",
            "-",
        ],
        input=yaml.safe_dump_all(rendered),
        text=True,
        capture_output=True,
        timeout=120,
        check=True,
    )
    wait_for(
        lambda: _rolled_out(kube.get(APPS_DEPLOYMENTS, SYSTEM, "modelship-operator")),
        timeout=120,
        what="the operator Deployment to be rolled out",
    )
    yield
    # Remove only the operator: the CRDs stay for the rest of the session's tests.
    kube.delete(APPS_DEPLOYMENTS, SYSTEM, "modelship-operator")
    wait_for(
        lambda: not kube.list(PODS, SYSTEM, {"app.kubernetes.io/component": "operator"}),
        timeout=90,
        what="the operator pod to be gone",
    )
