"""Operator metrics: a status write is counted once, gauges follow status, nothing leaks."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from modelship.api.v1alpha1 import DeploymentStatus, ModelStatus, TrainingJobStatus
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.metrics.transitions import (
    added_history,
    awaiting_approval_since,
    deployment_transitions,
    finished_training,
    retraining_decision,
)

DIGEST = "sha256:" + "a" * 64


def entry(event: str, at: str, version: int = 2) -> dict[str, Any]:
    return {"event": event, "version": version, "digest": DIGEST, "at": at}


def deployment(phase: str, *history: dict[str, Any], **extra: Any) -> DeploymentStatus:
    return DeploymentStatus.model_validate(
        {"phase": phase, "history": list(reversed(history)), **extra}
    )


TESTED = entry("TestPassed", "2026-01-01T10:00:00Z")
PROMOTING = entry("Promoting", "2026-01-01T12:00:00Z")
PROMOTED = entry("Promoted", "2026-01-01T12:00:45Z")


def test_a_promotion_measures_the_wait_for_approval_and_the_rollout_once() -> None:
    waiting = deployment("AwaitingApproval", TESTED, test={"version": 2, "passed": True})
    promoting = deployment("Promoting", TESTED, PROMOTING)
    serving = deployment("Serving", TESTED, PROMOTING, PROMOTED)
    assert deployment_transitions(waiting, promoting).approval_waits == [7200.0]
    assert deployment_transitions(promoting, serving).promotions == [45.0]
    assert deployment_transitions(serving, serving).promotions == []  # a resync adds nothing
    both = deployment_transitions(waiting, serving)  # one write may carry both
    assert (both.approval_waits, both.promotions) == ([7200.0], [45.0])


def test_history_added_at_the_front_is_new_even_when_the_list_is_capped() -> None:
    old = deployment("Testing", TESTED)
    new = deployment("Serving", PROMOTING, PROMOTED)  # TESTED fell off a (tiny) cap
    assert [e.event for e in added_history(old, new)] == ["Promoted", "Promoting"]


def test_a_rollback_is_counted_with_the_reason_of_its_condition() -> None:
    condition = {"type": "RolledBack", "status": "True", "reason": "ProgressDeadlineExceeded"}
    old = deployment("Promoting", TESTED, PROMOTING)
    new = deployment(
        "Serving",
        TESTED,
        PROMOTING,
        entry("RolledBack", "2026-01-01T12:05:00Z"),
        conditions=[condition],
    )
    assert deployment_transitions(old, new).rollbacks == ["ProgressDeadlineExceeded"]


def test_waiting_for_approval_is_timed_from_when_the_tested_version_passed() -> None:
    waiting = deployment("AwaitingApproval", TESTED, test={"version": 2, "passed": True})
    assert awaiting_approval_since(waiting) == 1767261600.0  # 2026-01-01T10:00:00Z
    assert awaiting_approval_since(deployment("Serving", TESTED)) is None


def test_a_training_run_is_counted_when_it_ends_with_its_outcome_and_duration() -> None:
    running = TrainingJobStatus(phase="Running", start_time="2026-01-01T10:00:00Z")
    gates_failed = TrainingJobStatus.model_validate(
        {
            "phase": "Succeeded",
            "startTime": "2026-01-01T10:00:00Z",
            "completionTime": "2026-01-01T10:01:30Z",
            "version": 3,
            "conditions": [{"type": "GatesPassed", "status": "False", "reason": "GateFailed"}],
        }
    )
    assert finished_training(running, gates_failed) == ("GatesFailed", 90.0)
    assert finished_training(gates_failed, gates_failed) is None  # already over: not again
    failed = running.model_copy(update={"phase": "Failed"})
    assert finished_training(running, failed) == ("Failed", None)


def test_a_retraining_decision_is_counted_when_it_changes_only() -> None:
    held = ModelStatus.model_validate(
        {"retraining": {"decision": "Deferred", "trigger": "drift", "reason": "Cooldown"}}
    )
    assert retraining_decision(ModelStatus(), held) == ("Deferred", "drift", "Cooldown")
    assert retraining_decision(held, held) is None


def sample(metrics: OperatorMetrics, metric: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(metric, labels)


def test_the_registry_follows_status_and_forgets_a_deleted_deployment() -> None:
    metrics = OperatorMetrics(CollectorRegistry(), lambda: False)
    waiting = deployment(
        "AwaitingApproval",
        TESTED,
        test={"version": 2, "passed": True},
        production={"version": 1},
        drift={"overall": 0.31, "max": 0.8, "rows": 500},
    )
    metrics.deployment_written("ml", "iris", DeploymentStatus(), waiting)
    ids = {"namespace": "ml", "name": "iris"}
    assert sample(metrics, "modelship_deployment_phase", **ids, phase="AwaitingApproval") == 1
    assert sample(metrics, "modelship_deployment_phase", **ids, phase="Serving") == 0
    assert sample(metrics, "modelship_deployment_version", **ids, stage="test") == 2
    assert sample(metrics, "modelship_deployment_drift_psi", **ids, aggregate="max") == 0.8
    assert sample(metrics, "modelship_deployment_tests_total", result="passed") == 1
    assert sample(metrics, "modelship_operator_leader") == 0
    metrics.forget_deployment("ml", "iris")
    assert sample(metrics, "modelship_deployment_phase", **ids, phase="AwaitingApproval") is None
    assert sample(metrics, "modelship_deployment_drift_psi", **ids, aggregate="max") is None


def test_a_deferral_replaces_its_series_when_the_reason_changes() -> None:
    metrics = OperatorMetrics(CollectorRegistry(), lambda: True)

    def held(reason: str) -> ModelStatus:
        return ModelStatus.model_validate(
            {"retraining": {"decision": "Deferred", "trigger": "drift", "reason": reason}}
        )

    metrics.model_written("ml", "iris", ModelStatus(), held("Cooldown"))
    metrics.model_written("ml", "iris", held("Cooldown"), held("DailyCap"))
    series = {"namespace": "ml", "name": "iris", "trigger": "drift"}
    assert sample(metrics, "modelship_model_retraining_deferred", **series, reason="DailyCap") == 1
    assert (
        sample(metrics, "modelship_model_retraining_deferred", **series, reason="Cooldown") is None
    )
    decisions = "modelship_retraining_decisions_total"
    assert sample(metrics, decisions, decision="Deferred", trigger="drift", reason="DailyCap") == 1
    metrics.model_written("ml", "iris", held("DailyCap"), ModelStatus())
    assert (
        sample(metrics, "modelship_model_retraining_deferred", **series, reason="DailyCap") is None
    )


def test_a_reconcile_that_raises_counts_as_an_error() -> None:
    metrics = OperatorMetrics(CollectorRegistry(), lambda: True)
    try:
        with metrics.reconcile("Model"):
            raise RuntimeError("API server gone")
    except RuntimeError:
        pass
    with metrics.reconcile("Model"):
        pass
    assert sample(metrics, "modelship_operator_reconciles_total", kind="Model") == 2
    assert sample(metrics, "modelship_operator_reconcile_errors_total", kind="Model") == 1
    assert sample(metrics, "modelship_operator_leader") == 1


def test_live_metric_series_follow_the_served_roles() -> None:
    metrics = OperatorMetrics(CollectorRegistry(), lambda: False)
    served = {"digest": "sha256:1", "metric": "accuracy", "labelled": 200, "captured": 400}
    evaluated = deployment(
        "Serving",
        production={"version": 1},
        performance={"versions": [
            {**served, "version": 1, "role": "production", "value": 0.51, "low": 0.44,
             "high": 0.58, "offline": 0.95},
            {**served, "version": 2, "role": "canary"},  # no label yet: counts, no value
        ]},
    )  # fmt: skip
    metrics.deployment_written("ml", "iris", DeploymentStatus(), evaluated)
    ids = {"namespace": "ml", "name": "iris"}
    live, rows = "modelship_deployment_live_metric", "modelship_deployment_live_rows"
    production = {**ids, "role": "production", "metric": "accuracy"}
    assert series(metrics, live, production | {"bound": "high"}) == 0.58
    assert series(metrics, live, production | {"bound": "offline"}) == 0.95
    canary = {**ids, "role": "canary", "metric": "accuracy", "bound": "value"}
    assert series(metrics, live, canary) is None
    assert sample(metrics, rows, **ids, role="canary", rows="captured") == 400
    finished = evaluated.model_copy(deep=True)
    assert finished.performance is not None
    finished.performance.versions = finished.performance.versions[:1]
    metrics.deployment_written("ml", "iris", evaluated, finished)
    assert sample(metrics, rows, **ids, role="canary", rows="captured") is None
    metrics.forget_deployment("ml", "iris")
    assert series(metrics, live, production | {"bound": "high"}) is None


def series(metrics: OperatorMetrics, metric: str, labels: dict[str, str]) -> float | None:
    """`sample` for series with a label called `metric`."""
    return metrics.registry.get_sample_value(metric, labels)
