"""Operator part 2 on the local cluster: test stage, acceptance, approval, production, rollback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelship.catalog import MODEL_FILE, artifacts
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS, Resource
from support.factories import iris_deployment, iris_model
from support.live import (
    approve,
    awaiting_approval,
    condition,
    infer,
    production_pod_ips,
    production_version,
    recorded_approver,
    retrain,
    wait_for_status,
)
from support.operator import OperatorProcess, running_operator
from support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator with a short rollout deadline: this module waits for rollouts that never
    become ready to be rolled back (production) or failed (test stage)."""
    yield from running_operator(cluster_kubeconfig, tmp_path_factory, rollout_deadline_seconds="30")


def create(kube: Kube, namespace: str, res: Resource, name: str, **spec: Any) -> None:
    """The iris Model or Deployment named `name`, with `spec` changed."""
    body = iris_deployment(name, **spec) if res is MODEL_DEPLOYMENTS else iris_model(name, **spec)
    kube.create(res, namespace, body)


def version_dir(kube: Kube, namespace: str, model: str, version: int) -> Path:
    claim = kube._call(
        "GET", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/modelship-catalog"
    )
    volume = kube._call("GET", f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
    root = Path((volume["spec"].get("hostPath") or volume["spec"].get("local"))["path"])
    return root / namespace / model / str(version)


def corrupt(path: Path) -> None:
    """Flip the artifact's bytes on the volume, as a bad disk or a tampering hand would."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_the_whole_path_from_training_to_production_and_rollback(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    started = time.monotonic()
    create(kube, namespace, MODELS, "iris")
    create(kube, namespace, MODEL_DEPLOYMENTS, "iris")
    status = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: s.get("phase") == "AwaitingApproval",
        180,
    )
    to_awaiting = time.monotonic() - started
    assert status["test"]["version"] == 1 and status["test"]["passed"] is True
    checks = {c["name"]: c for c in status["test"]["report"]["checks"]}
    assert checks["identity"]["passed"] and checks["accuracy"]["value"] >= 0.8
    assert checks["latencyP95Ms"]["passed"]
    assert condition(status, "TestPassed")["status"] == "True"
    assert production_version(kube, namespace, "iris") is None  # nothing before approval

    # an approval for another version changes nothing and says why
    kube.patch(MODEL_DEPLOYMENTS, namespace, "iris", {"spec": {"approval": {"version": 7}}})
    status = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: condition(s, "Approved")["reason"] == "VersionNotTested",
    )
    assert "version 7" in condition(status, "Approved")["message"]
    assert production_version(kube, namespace, "iris") is None

    approved = time.monotonic()
    written = approve(kube, namespace, "iris")
    status = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: (
            s.get("phase") == "Serving" and (s.get("production") or {}).get("readyReplicas") == 2
        ),
    )
    to_serving = time.monotonic() - approved
    # The approver is who the API server authenticated (the test's admin), recorded by the webhook.
    approver = recorded_approver(written)
    assert approver and status["production"]["approvedBy"] == approver
    assert condition(status, "Ready")["status"] == "True"

    # a prediction from a production pod matches the model in the catalog
    pods = production_pod_ips(kube, namespace, "iris")
    row = [5.9, 3.0, 5.1, 1.8]
    with httpx.Client(timeout=10) as client:
        (predicted,) = infer(client, pods[0], "iris", [row])
    artifact = version_dir(kube, namespace, "iris", 1) / MODEL_FILE
    estimator = artifacts.load_model(artifact.read_bytes())
    assert predicted == estimator.predict([row])[0]

    # a retrain puts version 2 into test while production keeps serving version 1
    retrain(kube, namespace, "iris", "1")
    status = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        awaiting_approval(2),
        180,
    )
    assert status["production"]["version"] == 1
    assert production_version(kube, namespace, "iris") == "1"

    # version 2 breaks after testing: its production rollout never becomes ready and is reverted
    corrupt(version_dir(kube, namespace, "iris", 2) / MODEL_FILE)
    approve(kube, namespace, "iris")
    status = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: (
            condition(s, "RolledBack")["status"] == "True"
            if any(c["type"] == "RolledBack" for c in s.get("conditions", []))
            else False
        ),
        timeout=150,
    )
    assert status["production"]["version"] == 1
    assert status["failedRollout"]["version"] == 2
    assert "reverted to version 1" in condition(status, "RolledBack")["message"]
    wait_for(
        lambda: production_version(kube, namespace, "iris") == "1", what="production back on 1"
    )
    assert condition(status, "Approved")["reason"] in ("RolloutFailed", "Approved")
    print(
        f"\napplied -> AwaitingApproval {to_awaiting:.1f}s; approved -> Serving {to_serving:.1f}s"
    )


def test_a_version_failing_acceptance_never_reaches_production(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    create(
        kube,
        namespace,
        MODELS,
        "stump",
        algorithm={"name": "decision_tree", "params": {"max_depth": 1}},
        evaluation={"testFraction": 0.3, "seed": 3, "gates": []},
    )
    create(
        kube,
        namespace,
        MODEL_DEPLOYMENTS,
        "stump",
        test={"replicas": 1, "acceptance": {"minAccuracy": 0.95}},
    )
    status = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "stump", lambda s: s.get("phase") == "Failed", 180
    )
    tested = condition(status, "TestPassed")
    assert tested["status"] == "False" and tested["reason"] == "AcceptanceFailed"
    assert "accuracy" in tested["message"]
    kube.patch(MODEL_DEPLOYMENTS, namespace, "stump", {"spec": {"approval": {"version": 1}}})
    status = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "stump",
        lambda s: condition(s, "Approved")["reason"] == "TestNotPassed",
    )
    assert production_version(kube, namespace, "stump") is None


def test_a_corrupted_artifact_is_refused_at_the_test_stage(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    create(kube, namespace, MODELS, "fragile")
    wait_for_status(
        kube, MODELS, namespace, "fragile", lambda s: s.get("latestVersion"), what="version 1"
    )
    corrupt(version_dir(kube, namespace, "fragile", 1) / MODEL_FILE)
    create(kube, namespace, MODEL_DEPLOYMENTS, "fragile")
    status = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "fragile", lambda s: s.get("phase") == "Failed", 120
    )
    assert condition(status, "TestPassed")["reason"] == "TestStageNotReady"
    assert production_version(kube, namespace, "fragile") is None


def test_a_deployment_waits_for_its_model(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    create(kube, namespace, MODEL_DEPLOYMENTS, "late")
    status = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "late", lambda s: s.get("phase") == "Pending"
    )
    assert condition(status, "Ready")["reason"] == "ModelNotFound"
    create(kube, namespace, MODELS, "late")
    wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "late",
        lambda s: s.get("phase") == "AwaitingApproval",
        180,
    )
