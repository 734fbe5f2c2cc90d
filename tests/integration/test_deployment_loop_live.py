"""Operator part 2 on the local cluster: test stage, acceptance, approval, production, rollback."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import httpx
import joblib
import pytest

from modelship.cli.approve import approval_for
from modelship.operator.kube import (
    APPS_DEPLOYMENTS,
    MODEL_DEPLOYMENTS,
    MODELS,
    PODS,
    Kube,
)
from support.operator import OperatorProcess
from support.waiting import wait_for

pytestmark = pytest.mark.integration

MODEL: dict[str, Any] = {
    "apiVersion": "modelship.io/v1alpha1",
    "kind": "Model",
    "metadata": {"name": "iris"},
    "spec": {
        "task": "classification",
        "dataset": {"uri": "builtin:iris"},
        "algorithm": {"name": "random_forest", "params": {"n_estimators": 20}},
        "evaluation": {
            "testFraction": 0.3,
            "seed": 3,
            "gates": [{"metric": "accuracy", "min": 0.8}],
        },
    },
}
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "modelship.io/v1alpha1",
    "kind": "Deployment",
    "metadata": {"name": "iris"},
    "spec": {
        "modelRef": {"name": "iris"},
        "test": {"replicas": 1, "acceptance": {"minAccuracy": 0.8, "maxLatencyMs": 1000}},
        "production": {"replicas": 2},
    },
}


def create(
    kube: Kube, namespace: str, res: Any, template: dict[str, Any], name: str, **spec: Any
) -> None:
    body = copy.deepcopy(template)
    body["metadata"]["name"] = name
    if res is MODEL_DEPLOYMENTS:
        body["spec"]["modelRef"]["name"] = spec.pop("model", name)
    body["spec"].update(spec)
    kube.create(res, namespace, body)


def mdep_status(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    return dict((kube.get(MODEL_DEPLOYMENTS, namespace, name) or {}).get("status") or {})


def wait_mdep(
    kube: Kube, namespace: str, name: str, check: Any, timeout: float = 120
) -> dict[str, Any]:
    return wait_for(
        lambda: (lambda s: s if check(s) else None)(mdep_status(kube, namespace, name)),
        timeout=timeout,
        what=f"Deployment {name}",
        describe=lambda: str(mdep_status(kube, namespace, name)),
    )


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    absent = {"type": type_, "status": None, "reason": None, "message": ""}
    return next((c for c in status.get("conditions", []) if c["type"] == type_), absent)


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


def production_version(kube: Kube, namespace: str, name: str) -> str | None:
    deployment = kube.get(APPS_DEPLOYMENTS, namespace, name)
    if deployment is None:
        return None
    return str(deployment["spec"]["template"]["metadata"]["labels"]["modelship.io/version"])


def approve(kube: Kube, namespace: str, name: str, **override: Any) -> None:
    approval = approval_for(mdep_status(kube, namespace, name), None, "tests")
    approval.update(override)
    kube.patch(MODEL_DEPLOYMENTS, namespace, name, {"spec": {"approval": approval}})


def test_the_whole_path_from_training_to_production_and_rollback(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    started = time.monotonic()
    create(kube, namespace, MODELS, MODEL, "iris")
    create(kube, namespace, MODEL_DEPLOYMENTS, DEPLOYMENT, "iris")
    status = wait_mdep(kube, namespace, "iris", lambda s: s.get("phase") == "AwaitingApproval", 180)
    to_awaiting = time.monotonic() - started
    assert status["test"]["version"] == 1 and status["test"]["passed"] is True
    checks = {c["name"]: c for c in status["test"]["report"]["checks"]}
    assert checks["identity"]["passed"] and checks["accuracy"]["value"] >= 0.8
    assert checks["latencyP95Ms"]["passed"]
    assert condition(status, "TestPassed")["status"] == "True"
    assert production_version(kube, namespace, "iris") is None  # nothing before approval

    # an approval for another version changes nothing and says why
    kube.patch(MODEL_DEPLOYMENTS, namespace, "iris", {"spec": {"approval": {"version": 7}}})
    status = wait_mdep(
        kube, namespace, "iris", lambda s: condition(s, "Approved")["reason"] == "VersionNotTested"
    )
    assert "version 7" in condition(status, "Approved")["message"]
    assert production_version(kube, namespace, "iris") is None

    approved = time.monotonic()
    approve(kube, namespace, "iris")
    status = wait_mdep(
        kube,
        namespace,
        "iris",
        lambda s: (
            s.get("phase") == "Serving" and (s.get("production") or {}).get("readyReplicas") == 2
        ),
    )
    to_serving = time.monotonic() - approved
    assert status["production"]["version"] == 1 and status["production"]["approvedBy"] == "tests"
    assert condition(status, "Ready")["status"] == "True"

    # a prediction from a production pod matches the model in the catalog
    pods = [
        p
        for p in kube.list(
            PODS, namespace, {"modelship.io/deployment": "iris", "modelship.io/stage": "production"}
        )
        if p["status"].get("podIP")
    ]
    row = [5.9, 3.0, 5.1, 1.8]
    answer = httpx.post(
        f"http://{pods[0]['status']['podIP']}:8080/v2/models/iris/infer",
        json={"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": row}]},
        timeout=10,
    )
    predicted = next(o for o in answer.json()["outputs"] if o["name"] == "predict")["data"][0]
    estimator = joblib.load(version_dir(kube, namespace, "iris", 1) / "model.joblib")
    assert predicted == estimator.predict([row])[0]

    # a retrain puts version 2 into test while production keeps serving version 1
    kube.patch(
        MODELS, namespace, "iris", {"metadata": {"annotations": {"modelship.io/retrain": "1"}}}
    )
    status = wait_mdep(
        kube,
        namespace,
        "iris",
        lambda s: (
            (s.get("test") or {}).get("version") == 2 and s.get("phase") == "AwaitingApproval"
        ),
        180,
    )
    assert status["production"]["version"] == 1
    assert production_version(kube, namespace, "iris") == "1"

    # version 2 breaks after testing: its production rollout never becomes ready and is reverted
    corrupt(version_dir(kube, namespace, "iris", 2) / "model.joblib")
    approve(kube, namespace, "iris")
    status = wait_mdep(
        kube,
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
        MODEL,
        "stump",
        algorithm={"name": "decision_tree", "params": {"max_depth": 1}},
        evaluation={"testFraction": 0.3, "seed": 3, "gates": []},
    )
    create(
        kube,
        namespace,
        MODEL_DEPLOYMENTS,
        DEPLOYMENT,
        "stump",
        test={"replicas": 1, "acceptance": {"minAccuracy": 0.95}},
    )
    status = wait_mdep(kube, namespace, "stump", lambda s: s.get("phase") == "Failed", 180)
    tested = condition(status, "TestPassed")
    assert tested["status"] == "False" and tested["reason"] == "AcceptanceFailed"
    assert "accuracy" in tested["message"]
    kube.patch(MODEL_DEPLOYMENTS, namespace, "stump", {"spec": {"approval": {"version": 1}}})
    status = wait_mdep(
        kube, namespace, "stump", lambda s: condition(s, "Approved")["reason"] == "TestNotPassed"
    )
    assert production_version(kube, namespace, "stump") is None


def test_a_corrupted_artifact_is_refused_at_the_test_stage(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    create(kube, namespace, MODELS, MODEL, "fragile")
    wait_for(
        lambda: ((kube.get(MODELS, namespace, "fragile") or {}).get("status") or {}).get(
            "latestVersion"
        ),
        timeout=120,
        what="version 1 of fragile",
    )
    corrupt(version_dir(kube, namespace, "fragile", 1) / "model.joblib")
    create(kube, namespace, MODEL_DEPLOYMENTS, DEPLOYMENT, "fragile")
    status = wait_mdep(kube, namespace, "fragile", lambda s: s.get("phase") == "Failed", 120)
    assert condition(status, "TestPassed")["reason"] == "TestStageNotReady"
    assert production_version(kube, namespace, "fragile") is None


def test_a_deployment_waits_for_its_model(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    create(kube, namespace, MODEL_DEPLOYMENTS, DEPLOYMENT, "late")
    status = wait_mdep(kube, namespace, "late", lambda s: s.get("phase") == "Pending")
    assert condition(status, "Ready")["reason"] == "ModelNotFound"
    create(kube, namespace, MODELS, MODEL, "late")
    wait_mdep(kube, namespace, "late", lambda s: s.get("phase") == "AwaitingApproval", 180)
