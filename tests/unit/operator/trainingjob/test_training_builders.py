"""Builders and decisions of the Model and TrainingJob controllers, without a cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelship.api.v1alpha1 import Gate, ModelSpec, ModelStatus, TrainingSnapshot, VersionSummary
from modelship.contracts.gates import evaluate_gates
from modelship.operator.kube.conditions import set_condition
from modelship.operator.kube.naming import child_name
from modelship.operator.kube.status import status_patch
from modelship.operator.model.builders import build_catalog_claim, build_training_job
from modelship.operator.model.decide import training_requests
from modelship.operator.model.observation import ModelMeta, ObservedTrainingJob
from modelship.operator.model.summary import version_summaries
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.builders import build_training_pod_job
from modelship.operator.trainingjob.decide import backoff_seconds
from modelship.operator.trainingjob.outcome import read_outcome

SPEC = {
    "task": "classification",
    "dataset": {"uri": "builtin:iris"},
    "algorithm": {"name": "random_forest", "params": {"n_estimators": 10}},
    "evaluation": {"gates": [{"metric": "accuracy", "min": 0.9}]},
    "training": {"timeoutSeconds": 120},
}


def model_body(
    generation: int = 1, status: dict[str, Any] | None = None, **annotations: str
) -> dict[str, Any]:
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "Model",
        "metadata": {
            "name": "iris",
            "namespace": "ml",
            "uid": "u-1",
            "generation": generation,
            "annotations": annotations,
        },
        "spec": SPEC,
        "status": status or {},
    }


def tj_body(
    generation: int = 1, snapshot: dict[str, Any] | None = None, **status: Any
) -> dict[str, Any]:
    spec = ModelSpec.model_validate(SPEC)
    body = build_training_job(model_body(generation), spec, "spec-change", "r", str(generation))
    if snapshot is not None:
        body["spec"]["snapshot"] = snapshot
    body["metadata"]["uid"] = f"tj-{generation}"
    body["status"] = status
    return body


def test_training_job_snapshots_the_spec_and_is_owned_by_the_model() -> None:
    body = tj_body(3)
    assert body["metadata"]["name"] == "iris-g3"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert body["spec"]["modelGeneration"] == 3
    assert body["spec"]["snapshot"]["algorithm"]["params"] == {"n_estimators": 10}
    assert "retraining" not in body["spec"]["snapshot"]


def test_training_pod_job_is_restricted_and_carries_the_snapshot() -> None:
    body = tj_body(1)
    snapshot = TrainingSnapshot.model_validate(body["spec"]["snapshot"])
    job = build_training_pod_job(body, snapshot, attempt=2, settings=OperatorSettings())
    assert job["metadata"]["name"] == "iris-g1-a2"
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 120
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["restartPolicy"] == "Never"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["limits"]["memory"] == "1Gi"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert json.loads(env["MODELSHIP_TRAINING_SNAPSHOT"]) == body["spec"]["snapshot"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/var/lib/modelship/catalog", "/tmp"} <= mounts
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "modelship-catalog"
    assert job["metadata"]["labels"]["modelship.io/trainingjob"] == "iris-g1"


def test_catalog_claim_has_no_owner() -> None:
    claim = build_catalog_claim("ml", OperatorSettings(catalog_storage_class="fast"))
    assert "ownerReferences" not in claim["metadata"]
    assert claim["spec"]["storageClassName"] == "fast"


def test_long_names_stay_within_63_characters_and_stay_distinct() -> None:
    a = child_name("m" * 70, "g1")
    b = child_name("m" * 69, "g1")
    assert len(a) <= 63 and len(b) <= 63 and a != b and a.endswith("-g1")


def requests_for(body: dict[str, Any], tjs: list[dict[str, Any]]) -> list[Any]:
    spec = ModelSpec.model_validate(SPEC)
    status = ModelStatus.model_validate(body["status"])
    observed = [ObservedTrainingJob.from_body(tj) for tj in tjs]
    return training_requests(ModelMeta.from_body(body), spec, status, observed)


def test_first_training_and_spec_changes_request_training() -> None:
    assert [r.trigger for r in requests_for(model_body(1), [])] == ["spec-change"]
    same = tj_body(1)
    body = model_body(2, {"observedGeneration": 1})
    # generation moved but the training snapshot did not (e.g. only retraining changed)
    assert requests_for(body, [same]) == []
    changed = tj_body(1, snapshot={**same["spec"]["snapshot"], "evaluation": {"seed": 1}})
    assert [r.key for r in requests_for(body, [changed])] == ["2"]
    assert requests_for(model_body(2, {"observedGeneration": 2}), [changed]) == []


def test_retrain_annotation_requests_a_manual_run_once() -> None:
    body = model_body(1, {"observedGeneration": 1}, **{"modelship.io/retrain": "now"})
    assert [r.trigger for r in requests_for(body, [tj_body(1)])] == ["manual"]
    body["status"]["retrainAnnotation"] = "now"
    assert requests_for(body, [tj_body(1)]) == []


def job(condition: str | None) -> dict[str, Any]:
    conditions = [{"type": condition, "status": "True", "reason": "X"}] if condition else []
    return {"metadata": {"name": "j"}, "status": {"conditions": conditions}}


def pod(exit_code: int | None, message: str = "", reason: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {"running": {}}
    if exit_code is not None:
        state = {"terminated": {"exitCode": exit_code, "message": message, "reason": reason}}
    return {
        "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"containerStatuses": [{"name": "trainer", "state": state}]},
    }


def test_outcomes_from_job_and_pod() -> None:
    summary = json.dumps(
        {"version": 4, "digest": "sha256:" + "a" * 64, "metrics": {"accuracy": 0.9}}
    )
    assert read_outcome(job(None), [pod(None)]).state == "running"
    done = read_outcome(job("Complete"), [pod(0, summary)])
    assert done.state == "succeeded" and done.summary is not None and done.summary.version == 4
    bad = read_outcome(
        job("Failed"), [pod(2, json.dumps({"error": "no column y", "reason": "BadDataset"}))]
    )
    assert (bad.state, bad.reason, bad.retryable) == ("failed", "BadDataset", False)
    assert "no column y" in bad.message
    flaky = read_outcome(job("Failed"), [pod(1, json.dumps({"error": "disk full"}))])
    assert flaky.retryable and "disk full" in flaky.message
    oom = read_outcome(job("Failed"), [pod(137, reason="OOMKilled")])
    assert (oom.reason, oom.retryable) == ("OOMKilled", False)
    no_summary = read_outcome(job("Complete"), [pod(0, "")])
    assert no_summary.state == "failed" and no_summary.retryable


def test_gates_and_backoff() -> None:
    results = evaluate_gates(
        [Gate(metric="accuracy", min=0.9), Gate(metric="f1_macro", max=0.5)], {"accuracy": 0.95}
    )
    assert [(r.passed, r.bound) for r in results] == [(True, ">= 0.9"), (False, "<= 0.5")]
    settings = OperatorSettings(retry_backoff_seconds=10, retry_backoff_max_seconds=25)
    assert [backoff_seconds(a, settings) for a in (1, 2, 3)] == [10, 20, 25]


def test_versions_merge_history_newest_first() -> None:
    finished = tj_body(
        2,
        phase="Succeeded",
        version=2,
        artifact={"digest": "sha256:b"},
        metrics={"accuracy": 0.5},
        gates=[{"metric": "accuracy", "bound": ">= 0.9", "passed": False}],
        score="accuracy=0.5",
    )
    finished["status"]["artifact"]["uri"] = "file:///c/2/model.joblib"
    known = [VersionSummary(version=1, digest="sha256:a", passed_gates=True)]
    observed = [ObservedTrainingJob.from_body(finished)]
    versions = version_summaries(observed, known, limit=10)
    assert [(v.version, v.passed_gates) for v in versions] == [(2, False), (1, True)]
    assert version_summaries(observed, known, limit=1)[0].version == 2


def test_condition_transition_time_moves_only_on_status_change() -> None:
    first = set_condition([], "Ready", False, "Training", now="2026-01-01T00:00:00Z")
    again = set_condition(first, "Ready", False, "Training", "other", now="2026-01-02T00:00:00Z")
    flipped = set_condition(again, "Ready", True, "VersionAvailable", now="2026-01-03T00:00:00Z")
    assert again[0].last_transition_time == "2026-01-01T00:00:00Z"
    assert flipped[0].last_transition_time == "2026-01-03T00:00:00Z"


def test_status_patch_removes_vanished_keys_at_every_depth() -> None:
    old = {"test": {"version": 1, "passed": True, "report": {"checks": []}}, "phase": "Serving"}
    new = {"test": {"version": 2}, "phase": "Testing"}
    assert status_patch(old, new) == {
        "test": {"version": 2, "passed": None, "report": None},
        "phase": "Testing",
    }
    assert status_patch(new, new) == {}


def test_status_patch_removes_vanished_keys() -> None:
    assert status_patch({"failure": {"reason": "x"}, "phase": "Pending"}, {"phase": "Running"}) == {
        "failure": None,
        "phase": "Running",
    }


def test_validation_errors_name_the_field_once() -> None:
    from pydantic import ValidationError

    from modelship.api.v1alpha1 import Deployment
    from modelship.operator.kube.status import first_error

    with pytest.raises(ValidationError) as spec_error:
        ModelSpec.model_validate({**SPEC, "evaluation": {"testFraction": 2}})
    assert first_error(spec_error.value).startswith("spec.evaluation.testFraction: ")
    with pytest.raises(ValidationError) as body_error:
        Deployment.model_validate({"spec": {"modelRef": {"name": "x"}, "version": "new"}})
    assert first_error(body_error.value, prefix="").startswith("spec.version: ")
