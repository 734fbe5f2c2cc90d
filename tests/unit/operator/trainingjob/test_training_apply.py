"""Observe → decide → apply of TrainingJobs and Models against an in-memory client.

Against the one fake client of the unit tier (`support.fake_kube.FakeKube`): objects in a dict,
merge-patched status, and every call recorded in order.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from modelship.api.v1alpha1 import ModelSpec
from modelship.contracts.gates import Champion
from modelship.contracts.training import TrainerSummary
from modelship.operator.kube.resources import (
    JOBS,
    MODEL_DEPLOYMENTS,
    MODELS,
    PODS,
    TRAINING_JOBS,
    Resource,
)
from modelship.operator.model.builders import build_training_job
from modelship.operator.model.controller import reconcile_model
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.controller import reconcile_training_job
from modelship.operator.trainingjob.observe import production_champion
from support.fake_kube import FakeKube

Obj = dict[str, Any]
LOG = logging.getLogger("test")
SETTINGS = OperatorSettings(resync_seconds=4, retry_backoff_seconds=10)
SPEC = {
    "task": "classification",
    "dataset": {"uri": "builtin:iris"},
    "algorithm": {"name": "random_forest"},
    "evaluation": {"gates": [{"metric": "accuracy", "min": 0.9}]},
}


def add_training_job(kube: FakeKube) -> Obj:
    model = {"metadata": {"name": "iris", "namespace": "ml", "uid": "m-1", "generation": 1}}
    body = build_training_job(model, ModelSpec.model_validate(SPEC), "spec-change", "first", "1")
    body["metadata"].update(uid="tj-1", generation=1)
    return kube.put(TRAINING_JOBS, body)


def writes(kube: FakeKube) -> list[tuple[str, str, str | None]]:
    """The writes made so far, in order: (verb, plural, name)."""
    return [(c.verb, c.resource.rsplit("/", 1)[-1], c.name) for c in kube.written()]


def stored(kube: FakeKube, res: Resource, name: str) -> Obj:
    """An object as the fake server holds it (read without recording a call)."""
    return kube.objects[(f"{res.group}/{res.plural}" if res.group else res.plural, "ml", name)]


def test_the_attempt_is_stored_before_its_job_is_created(posted: list[tuple[str, str]]) -> None:
    kube = FakeKube()
    body = add_training_job(kube)
    delay = reconcile_training_job(kube, SETTINGS, body, LOG)
    assert writes(kube) == [
        ("patch-status", "trainingjobs", "iris-g1"),  # attempts: 1
        ("create", "jobs", "iris-g1-a1"),
        ("patch-status", "trainingjobs", "iris-g1"),  # Running
    ]
    assert delay == SETTINGS.resync_seconds
    status = stored(kube, TRAINING_JOBS, "iris-g1")["status"]
    assert (status["attempts"], status["phase"], status["jobName"]) == (1, "Running", "iris-g1-a1")
    assert posted == [("TrainingStarted", "attempt 1: Job iris-g1-a1")]
    # a running Job: nothing to write, look again after resync_seconds
    kube.calls.clear()
    current = kube.get(TRAINING_JOBS, "ml", "iris-g1")
    assert current is not None
    assert reconcile_training_job(kube, SETTINGS, current, LOG) == 4
    assert writes(kube) == []


def test_the_summary_in_the_termination_message_finishes_the_run(
    posted: list[tuple[str, str]],
) -> None:
    kube = FakeKube()
    reconcile_training_job(kube, SETTINGS, add_training_job(kube), LOG)
    job = stored(kube, JOBS, "iris-g1-a1")
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    line = TrainerSummary(
        version=1, digest="sha256:a", metrics={"accuracy": 0.97}
    ).termination_line()
    kube.put(
        PODS,
        {
            "metadata": {"name": "p", "namespace": "ml", "labels": {"job-name": "iris-g1-a1"}},
            "status": {
                "containerStatuses": [
                    {"name": "trainer", "state": {"terminated": {"exitCode": 0, "message": line}}}
                ]
            },
        },
    )
    current = kube.get(TRAINING_JOBS, "ml", "iris-g1")
    assert current is not None
    assert reconcile_training_job(kube, SETTINGS, current, LOG) is None
    status = stored(kube, TRAINING_JOBS, "iris-g1")["status"]
    assert (status["phase"], status["version"], status["score"]) == (
        "Succeeded",
        1,
        "accuracy=0.97",
    )
    assert posted[-1] == ("TrainingSucceeded", "version 1 (accuracy=0.97)")


def test_a_model_is_reconciled_to_a_steady_state_without_writes(
    posted: list[tuple[str, str]],
) -> None:
    kube = FakeKube()
    kube.put(
        MODELS,
        {
            "apiVersion": "modelship.io/v1alpha1",
            "kind": "Model",
            "metadata": {"name": "iris", "namespace": "ml", "uid": "m-1", "generation": 1},
            "spec": SPEC,
        },
    )
    for _ in range(2):
        body = kube.get(MODELS, "ml", "iris")
        assert body is not None
        reconcile_model(kube, SETTINGS, body, LOG)
    assert [w for w in writes(kube) if w[0] == "create"] == [
        ("create", "persistentvolumeclaims", "modelship-catalog"),
        ("create", "trainingjobs", "iris-g1"),
    ]
    assert posted == [("TrainingRequested", "iris-g1 (spec-change): first version of the model")]
    status = stored(kube, MODELS, "iris")["status"]
    assert (status["phase"], status["activeTrainingJob"]) == ("Training", "iris-g1")
    kube.calls.clear()
    body = kube.get(MODELS, "ml", "iris")
    assert body is not None
    reconcile_model(kube, SETTINGS, body, LOG)
    assert writes(kube) == []


def test_the_champion_is_the_newest_promotion_with_its_metrics_from_model_status() -> None:
    kube = FakeKube()

    def deployment(name: str, model: str, version: int, promoted: str | None) -> None:
        production = {"version": version, "digest": f"sha256:{version}"}
        if promoted:
            production["promotedAt"] = promoted
        kube.put(
            MODEL_DEPLOYMENTS,
            {
                "metadata": {"name": name, "namespace": "ml"},
                "spec": {"modelRef": {"name": model}},
                "status": {"production": production},
            },
        )

    assert production_champion(kube, "ml", "iris") is None
    deployment("old", "iris", 1, "2026-01-01T00:00:00Z")
    deployment("new", "iris", 2, "2026-01-02T00:00:00Z")
    deployment("unpromoted", "iris", 3, None)
    deployment("other", "wine", 9, "2026-01-03T00:00:00Z")
    versions = [
        {"version": v, "digest": f"sha256:{v}", "metrics": {"accuracy": v / 10}} for v in (3, 2, 1)
    ]
    kube.put(
        MODELS,
        {
            "metadata": {"name": "iris", "namespace": "ml"},
            "spec": SPEC,
            "status": {"versions": versions},
        },
    )
    champion = production_champion(kube, "ml", "iris")
    assert champion == Champion(2, {"accuracy": 0.2})


def test_training_on_production_rows_tells_the_trainer_the_store_and_the_production_version(
    posted: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the attempt's Job exists, the operator reads the Model's capture store and the
    version promoted last; the trainer's environment carries both, read back by its settings."""
    from modelship.contracts.production_data import ProductionSource
    from modelship.operator.trainingjob.observe import production_source
    from modelship.training.settings import TrainerSettings

    kube = FakeKube()
    spec = SPEC | {
        "dataset": {"uri": "builtin:iris", "production": {"weight": 5}},
        "monitoring": {"capture": {"sampleRate": 1, "store": "oci://reg/ml/iris-cap"}},
    }
    kube.put(MODELS, {"metadata": {"name": "iris", "namespace": "ml"}, "spec": spec})
    assert production_source(kube, "ml", "iris") == ProductionSource(store="oci://reg/ml/iris-cap")
    kube.put(
        MODEL_DEPLOYMENTS,
        {
            "metadata": {"name": "iris", "namespace": "ml"},
            "spec": {"modelRef": {"name": "iris"}},
            "status": {
                "production": {
                    "version": 2,
                    "digest": "sha256:2",
                    "promotedAt": "2026-01-02T00:00:00Z",
                }
            },
        },
    )

    model = {"metadata": {"name": "iris", "namespace": "ml", "uid": "m-1", "generation": 1}}
    body = build_training_job(model, ModelSpec.model_validate(spec), "performance", "decay", "1")
    body["metadata"].update(uid="tj-1", generation=1)
    kube.put(TRAINING_JOBS, body)
    reconcile_training_job(kube, SETTINGS, body, LOG)

    (job,) = [o for (kind, _, _), o in kube.objects.items() if kind == "batch/jobs"]
    env = {
        e["name"]: e["value"]
        for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
        if "value" in e
    }
    monkeypatch.setenv("MODELSHIP_TRAINING_PRODUCTION", env["MODELSHIP_TRAINING_PRODUCTION"])
    settings = TrainerSettings()
    assert settings.production == ProductionSource(
        store="oci://reg/ml/iris-cap", champion_version=2, champion_digest="sha256:2"
    )


def test_a_training_job_without_production_rows_sets_no_production_variable(
    posted: list[tuple[str, str]],
) -> None:
    kube = FakeKube()
    body = add_training_job(kube)
    reconcile_training_job(kube, SETTINGS, body, LOG)
    (job,) = [o for (kind, _, _), o in kube.objects.items() if kind == "batch/jobs"]
    names = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "MODELSHIP_TRAINING_PRODUCTION" not in names
