"""The Model's training decisions and status, as a table of situations, without a cluster."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from modelship.api.v1alpha1 import Model, ModelStatus
from modelship.operator.kube.actions import PostEvent
from modelship.operator.model.decide import (
    CreateTrainingJob,
    DeleteTrainingJob,
    EnsureCatalogClaim,
    ModelDecision,
    decide,
    decide_invalid,
)
from modelship.operator.model.observation import (
    ModelMeta,
    ModelObservation,
    ObservedTrainingJob,
    ServingDeployment,
)
from modelship.operator.model.signals import fmt
from support.model_observations import NOW, SPEC, model, published, tj


def run(m: tuple[Model, ModelMeta], *tjs: ObservedTrainingJob, **observed: Any) -> ModelDecision:
    return decide(m[0], m[1], ModelObservation(list(tjs), **observed), NOW, 10)


def creations(decision: ModelDecision) -> list[CreateTrainingJob]:
    return [a for a in decision.actions if isinstance(a, CreateTrainingJob)]


def events(decision: ModelDecision) -> list[tuple[str, str]]:
    return [(a.reason, a.message) for a in decision.actions if isinstance(a, PostEvent)]


def conditions(status: ModelStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (str(c.status), c.reason) for c in status.conditions}


def test_a_new_model_claims_the_catalog_and_trains_its_first_version() -> None:
    decision = run(model())
    assert decision.actions[0] == EnsureCatalogClaim()
    assert creations(decision) == [
        CreateTrainingJob("spec-change", "first version of the model", "1", announce=True)
    ]
    status = decision.status
    assert status.observed_generation == 1 and status.active_training_job == "iris-g1"
    assert status.last_training_time == fmt(NOW)
    assert status.phase == "Training"
    assert conditions(status)["Ready"] == ("False", "Training")
    assert conditions(status)["Training"] == ("True", "TrainingJobActive")


def test_a_spec_change_trains_again_once_the_snapshot_differs() -> None:
    changed = {**SPEC, "algorithm": {"name": "random_forest", "params": {"n_estimators": 7}}}
    typed = Model.model_validate({"spec": changed, "status": {"observedGeneration": 1}})
    decision = decide(
        typed,
        ModelMeta("iris", "ml", 2),
        ModelObservation([published("iris-g1", 1, 0.95)]),
        NOW,
        10,
    )
    assert [(c.trigger, c.key) for c in creations(decision)] == [("spec-change", "2")]
    # the same generation with an unchanged snapshot (only retraining changed): nothing to train
    same = run(model(2, {"observedGeneration": 1}), published("iris-g1", 1, 0.95))
    assert creations(same) == [] and same.status.observed_generation == 2


def test_requests_while_training_wait_unacknowledged() -> None:
    changed = {**SPEC, "evaluation": {"seed": 3}}
    typed = Model.model_validate({"spec": changed, "status": {"observedGeneration": 1}})
    decision = decide(
        typed,
        ModelMeta("iris", "ml", 2),
        ModelObservation([tj("iris-g1", phase="Running")]),
        NOW,
        10,
    )
    assert creations(decision) == []
    assert decision.status.pending_trigger == "spec-change"
    assert decision.status.observed_generation == 1  # picked up when iris-g1 finishes


def test_the_retrain_annotation_trains_once_per_value() -> None:
    first = run(
        model(1, {"observedGeneration": 1}, annotation="monday"), published("iris-g1", 1, 0.95)
    )
    assert [(c.trigger, c.key) for c in creations(first)] == [("manual", "monday")]
    assert first.status.retrain_annotation == "monday"
    again = run(
        model(1, {"observedGeneration": 1, "retrainAnnotation": "monday"}, annotation="monday"),
        published("iris-g1", 1, 0.95),
    )
    assert creations(again) == []


def test_a_version_that_passed_its_gates_makes_the_model_ready_once() -> None:
    decision = run(model(1, {"observedGeneration": 1}), published("iris-g1", 1, 0.95))
    status = decision.status
    assert status.latest_version is not None and status.latest_version.version == 1
    assert status.phase == "Ready" and conditions(status)["Ready"] == ("True", "VersionAvailable")
    assert conditions(status)["Trained"] == ("True", "VersionPublished")
    assert events(decision) == [("VersionAvailable", "version 1 (accuracy=0.95) passed gates")]
    settled = run(model(1, status.to_wire()), published("iris-g1", 1, 0.95))
    assert events(settled) == [] and settled.status == status  # no write, no second Event


def test_a_failed_gate_or_training_leaves_the_model_failed_with_the_reason() -> None:
    gated = run(model(1, {"observedGeneration": 1}), published("iris-g1", 1, 0.5, passed=False))
    assert gated.status.latest_version is None and gated.status.phase == "Failed"
    assert conditions(gated.status)["Ready"] == ("False", "GateFailed")
    broken = tj("iris-g1", phase="Failed", failure={"reason": "DatasetNotFound", "message": "x"})
    failed = run(model(1, {"observedGeneration": 1}), broken)
    assert conditions(failed.status)["Ready"] == ("False", "DatasetNotFound")
    ready = next(c for c in failed.status.conditions if c.type == "Ready")
    assert ready.message == "iris-g1: x"


def test_history_beyond_the_limit_is_pruned_oldest_first() -> None:
    old = [
        published(f"iris-m{i}", i, 0.95, trigger="manual", created=NOW - timedelta(hours=10 - i))
        for i in range(1, 5)
    ]
    decision = run(model(1, {"observedGeneration": 1}, {"historyLimit": 2}), *old)
    deleted = [a.name for a in decision.actions if isinstance(a, DeleteTrainingJob)]
    assert deleted == ["iris-m1", "iris-m2"]


def test_an_invalid_spec_is_reported_once() -> None:
    decision = decide_invalid(ModelStatus(), 3, "spec.evaluation.testFraction: bad", NOW)
    assert decision.status.phase == "Failed" and decision.status.observed_generation == 3
    assert conditions(decision.status)["Ready"] == ("False", "InvalidSpec")
    assert events(decision) == [("InvalidSpec", "spec.evaluation.testFraction: bad")]
    again = decide_invalid(decision.status, 3, "spec.evaluation.testFraction: bad", NOW)
    assert events(again) == []


def serving(psi: float, rows: int = 500) -> ServingDeployment:
    return ServingDeployment.from_body(
        {
            "metadata": {"name": "iris-prod"},
            "status": {
                "production": {"version": 1, "digest": "sha256:1", "promotedAt": fmt(NOW)},
                "drift": {"version": 1, "overall": psi, "max": psi, "rows": rows},
            },
        }
    )


DRIFT = {"drift": {"threshold": 0.2}, "cooldownSeconds": 0}


def test_drift_asks_for_one_training_and_says_so() -> None:
    decision = run(
        model(1, {"observedGeneration": 1}, DRIFT),
        published("iris-g1", 1, 0.95),
        deployments=[serving(0.6)],
    )
    [created] = creations(decision)
    assert created.trigger == "drift" and not created.announce
    retraining = decision.status.retraining
    assert retraining is not None and retraining.decision == "Retrain"
    assert retraining.handled["drift"] == created.key
    assert retraining.message is not None and retraining.message.startswith("iris-drift-")
    assert decision.status.active_training_job == retraining.message.split(":")[0]
    assert [r for r, _ in events(decision)] == ["RetrainingRetrain", "VersionAvailable"]
    assert conditions(decision.status)["RetrainingPolicyValid"] == ("True", "PolicyValid")
    # the next pass sees the TrainingJob running: the same episode is not trained twice
    running = tj(retraining.message.split(":")[0], trigger="drift", phase="Running", created=NOW)
    later = run(
        model(1, decision.status.to_wire(), DRIFT),
        published("iris-g1", 1, 0.95),
        running,
        deployments=[serving(0.7)],
    )
    assert creations(later) == []
    assert (
        later.status.retraining is not None and later.status.retraining.reason == "AlreadyRequested"
    )


def test_drift_waits_for_an_active_training_and_a_first_version_trains_first() -> None:
    decision = run(model(1, {}, DRIFT), deployments=[serving(0.6)])
    assert [c.trigger for c in creations(decision)] == ["spec-change"]
    assert decision.status.retraining is not None
    assert decision.status.retraining.reason == "TrainingActive"


def test_a_due_schedule_trains_and_an_invalid_one_is_a_false_condition() -> None:
    since = fmt(NOW - timedelta(hours=7))
    status = {
        "observedGeneration": 1,
        "retraining": {"schedule": {"expression": "6h", "since": since}},
    }
    due = run(
        model(1, status, {"schedule": "6h", "cooldownSeconds": 0}), published("iris-g1", 1, 0.95)
    )
    assert [c.trigger for c in creations(due)] == ["schedule"]
    bad = run(
        model(1, {"observedGeneration": 1}, {"schedule": "sometimes"}),
        published("iris-g1", 1, 0.95),
    )
    assert creations(bad) == []
    assert conditions(bad.status)["RetrainingPolicyValid"] == ("False", "InvalidSchedule")
    assert "RetrainingInvalid" in [r for r, _ in events(bad)]


def test_without_a_policy_the_retraining_status_goes_away() -> None:
    status = {"observedGeneration": 1, "retraining": {"decision": "NotNeeded"}}
    decision = run(model(1, status), published("iris-g1", 1, 0.95))
    assert decision.status.retraining is None
    assert "RetrainingPolicyValid" not in conditions(decision.status)
