"""What the Model controller observes, as its decisions receive it: a Model, its TrainingJobs,
published versions. Shared by the Model's decision tests and the suspend tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modelship.api.v1alpha1 import Model, TrainingJobStatus
from modelship.operator.model.observation import ModelMeta, ObservedTrainingJob
from modelship.operator.model.signals import fmt

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SPEC: dict[str, Any] = {
    "task": "classification",
    "dataset": {"uri": "builtin:iris"},
    "algorithm": {"name": "random_forest"},
    "evaluation": {"gates": [{"metric": "accuracy", "min": 0.9}]},
}


def model(
    generation: int = 1,
    status: dict[str, Any] | None = None,
    retraining: dict[str, Any] | None = None,
    annotation: str | None = None,
) -> tuple[Model, ModelMeta]:
    spec = {**SPEC, "retraining": retraining or {}}
    typed = Model.model_validate({"spec": spec, "status": status or {}})
    return typed, ModelMeta("iris", "ml", generation, annotation)


def tj(
    name: str,
    generation: int = 1,
    phase: str | None = None,
    trigger: Any = "spec-change",
    created: datetime = NOW - timedelta(hours=1),
    **status: Any,
) -> ObservedTrainingJob:
    snapshot = Model.model_validate({"spec": SPEC}).spec.snapshot()
    typed = TrainingJobStatus.model_validate({"phase": phase, **status})
    return ObservedTrainingJob(name, fmt(created), trigger, generation, snapshot, typed)


def published(
    name: str,
    version: int,
    accuracy: float,
    passed: bool = True,
    trigger: Any = "spec-change",
    created: datetime = NOW - timedelta(hours=1),
) -> ObservedTrainingJob:
    return tj(
        name,
        phase="Succeeded",
        trigger=trigger,
        created=created,
        version=version,
        artifact={"uri": f"file:///c/{version}", "digest": f"sha256:{version}"},
        metrics={"accuracy": accuracy},
        score=f"accuracy={accuracy:.4g}",
        gates=[{"metric": "accuracy", "bound": ">= 0.9", "passed": passed, "value": accuracy}],
        completionTime=fmt(NOW),
    )
