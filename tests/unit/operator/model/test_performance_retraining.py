"""Retraining on measured decay (`spec.retraining.performance`): the decision table of
decay.py, one row per case, and the trigger inside `plan` under cooldown and the daily cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from modelship.api.v1alpha1 import ModelSpec, PerformancePolicy, RetrainingStatus
from modelship.operator.model.decay import observe_decay, threshold_of
from modelship.operator.model.observation import ObservedTrainingJob, ServingDeployment
from modelship.operator.model.retraining import fmt, plan, record_training

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DIGEST = "sha256:a"


def served(value: float | None = 0.51, low: float = 0.44, high: float = 0.58,
           labelled: int = 200, offline: float | None = 0.95, metric: str = "accuracy",
           role: str = "production", version: int = 1) -> dict[str, Any]:  # fmt: skip
    figures = {"value": value, "low": low, "high": high} if value is not None else {}
    return {"version": version, "digest": DIGEST, "role": role, "metric": metric,
            "labelled": labelled, "captured": 1000, "offline": offline, **figures}  # fmt: skip


def deployment(*versions: dict[str, Any], promoted: bool = True) -> ServingDeployment:
    production: dict[str, Any] = {"version": 1, "digest": DIGEST}
    if promoted:
        production["promotedAt"] = fmt(NOW)
    status: dict[str, Any] = {"production": production}
    if versions:
        status["performance"] = {"versions": list(versions)}
    return ServingDeployment.from_body({"metadata": {"name": "iris"}, "status": status})


def policy(**fields: Any) -> PerformancePolicy:
    return PerformancePolicy.model_validate({"below": 0.8, **fields})


# (policy, production's figure, handled key) -> (state, reason)
TABLE = [
    ("not served", policy(), deployment(promoted=False), None, "unknown", "NotInProduction"),
    ("not evaluated", policy(), deployment(), None, "unknown", "NotEvaluated"),
    ("canary only", policy(), deployment(served(role="canary")), None, "unknown", "NotEvaluated"),
    ("another metric", policy(metric="mae", below=None, above=3), deployment(served()), None,
     "unknown", "NotEvaluated"),
    ("no label", policy(), deployment(served(value=None, labelled=0)), None, "unknown",
     "TooFewLabels"),
    ("too few labels", policy(minLabels=500), deployment(served()), None, "unknown",
     "TooFewLabels"),
    ("dropBy without offline", policy(below=None, dropBy=0.1),
     deployment(served(offline=None)), None, "unknown", "NoOfflineMetric"),
    ("confident decay", policy(), deployment(served()), None, "decayed", "PerformanceDecay"),
    # value 0.75 < 0.8 but the interval reaches 0.86: not a confident decay...
    ("decay not confident", policy(), deployment(served(value=0.75, low=0.62, high=0.86)), None,
     "healthy", "WithinBounds"),
    # ...unless the point estimate is asked for.
    ("decay by value", policy(decideOn="value"),
     deployment(served(value=0.75, low=0.62, high=0.86)), None, "decayed", "PerformanceDecay"),
    ("dropBy vs offline", policy(below=None, dropBy=0.2), deployment(served()), None, "decayed",
     "PerformanceDecay"),
    ("within dropBy", policy(below=None, dropBy=0.5), deployment(served()), None, "healthy",
     "WithinBounds"),
    ("error above", policy(metric="mae", below=None, above=40.0),
     deployment(served(metric="mae", value=60.0, low=52.0, high=68.0, offline=43.0)), None,
     "decayed", "PerformanceDecay"),
    ("error not confidently above", policy(metric="mae", below=None, above=55.0),
     deployment(served(metric="mae", value=60.0, low=52.0, high=68.0)), None, "healthy",
     "WithinBounds"),
    ("no new labels", policy(), deployment(served()), "iris/v1/labels-200", "futile",
     "NoNewLabels"),
    ("new labels since", policy(), deployment(served(labelled=260)), "iris/v1/labels-200",
     "decayed", "PerformanceDecay"),
    ("new labels not required", policy(requireNewLabels=False), deployment(served()),
     "iris/v1/labels-200", "decayed", "PerformanceDecay"),
    ("another version's key", policy(), deployment(served()), "iris/v7/labels-900", "decayed",
     "PerformanceDecay"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "rule", "mdep", "handled", "state", "reason"), TABLE, ids=[row[0] for row in TABLE]
)
def test_the_decision_table(
    case: str, rule: PerformancePolicy, mdep: ServingDeployment, handled: str | None, state: str,
    reason: str,
) -> None:  # fmt: skip
    seen = observe_decay(rule, [mdep], handled)
    assert (seen.state, seen.reason) == (state, reason), seen.message
    assert (seen.key is not None) == (state == "decayed")


def test_the_message_gives_the_figures_and_the_key_the_measurement() -> None:
    seen = observe_decay(policy(), [deployment(served())], None)
    assert seen.message == (
        "live accuracy 0.510 [0.440, 0.580] over 200 labels, offline 0.950 of production version "
        "1 (Deployment iris): bound 0.58 < 0.8"
    )
    assert seen.key == "iris/v1/labels-200"
    futile = observe_decay(policy(), [deployment(served())], seen.key)
    assert futile.message.startswith("performance decay; no new labels to learn from")


def test_thresholds() -> None:
    assert threshold_of(policy(), 0.9) == 0.8
    assert threshold_of(policy(below=None, dropBy=0.1), 0.9) == pytest.approx(0.8)
    mae = policy(metric="mae", below=None, dropBy=5.0)
    assert threshold_of(mae, 40.0) == 45.0 and threshold_of(mae, None) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"below": None}, "set exactly one of below, above and dropBy"),
        ({"dropBy": 0.1}, "set exactly one of below, above and dropBy"),
        ({"metric": "rmse"}, "below applies to accuracy"),
        ({"below": None, "above": 3.0}, "above applies to mae and rmse"),
    ],
)
def test_a_policy_that_cannot_be_judged_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        policy(**fields)


def model(**performance: Any) -> ModelSpec:
    return ModelSpec.model_validate({
        "task": "classification", "dataset": {"uri": "builtin:iris"},
        "algorithm": {"name": "random_forest"},
        "retraining": {"performance": {"below": 0.8, **performance}, "cooldownSeconds": 3600,
                       "maxPerDay": 2},
    })  # fmt: skip


def test_a_decay_retrains_once_then_waits_for_new_labels_and_the_cooldown() -> None:
    spec, decayed = model(), [deployment(served())]
    decision, state = plan("iris", spec, RetrainingStatus(), [], None, decayed, None, NOW)
    assert (decision.decision, decision.reason, decision.trigger) == (
        "Retrain", "PerformanceDecay", "performance",
    )  # fmt: skip
    assert decision.request is not None and decision.request.key == "iris/v1/labels-200"
    name = "iris-performance-1"
    state = record_training(state, decision.request, name, fmt(NOW), spec.retraining)
    tjs = [ObservedTrainingJob(name, fmt(NOW), "performance")]
    later = NOW + timedelta(minutes=10)
    # The same figures: nothing new to learn from, whatever the cooldown says.
    decision, state = plan("iris", spec, state, tjs, None, decayed, None, later)
    assert (decision.decision, decision.reason) == ("NotNeeded", "NoNewLabels")
    # More labels, still decayed, inside the cooldown: held back by it.
    more = [deployment(served(labelled=300))]
    decision, state = plan("iris", spec, state, tjs, None, more, None, later)
    assert (decision.decision, decision.reason, decision.trigger) == (
        "Deferred", "Cooldown", "performance",
    )  # fmt: skip
    assert state.next_eligible_at == fmt(NOW + timedelta(hours=1))
    decision, _ = plan("iris", spec, state, tjs, None, more, None, NOW + timedelta(minutes=61))
    assert decision.decision == "Retrain" and decision.request is not None
    assert decision.request.key == "iris/v1/labels-300"


def test_the_daily_cap_holds_performance_trainings_too() -> None:
    spec = model(cooldownSeconds=0)
    tjs = [ObservedTrainingJob(f"iris-drift-{i}", fmt(NOW - timedelta(hours=i + 1)), "drift")
           for i in range(2)]  # fmt: skip
    decision, _ = plan("iris", spec, RetrainingStatus(), tjs, None, [deployment(served())], None,
                       NOW)  # fmt: skip
    assert (decision.decision, decision.reason) == ("Deferred", "DailyCap")


def test_its_own_cooldown_replaces_the_models() -> None:
    spec = model(cooldownSeconds=60)
    tjs = [ObservedTrainingJob("iris-schedule-1", fmt(NOW - timedelta(minutes=2)), "schedule")]
    decision, _ = plan("iris", spec, RetrainingStatus(), tjs, None, [deployment(served())], None,
                       NOW)  # fmt: skip
    assert decision.decision == "Retrain"


def test_its_own_cooldown_of_zero_is_no_cooldown() -> None:
    """0 is a cooldown like any other (as drift's is), not "unset, use the Model's"."""
    spec = model(cooldownSeconds=0)
    tjs = [ObservedTrainingJob("iris-schedule-1", fmt(NOW - timedelta(minutes=2)), "schedule")]
    decision, _ = plan("iris", spec, RetrainingStatus(), tjs, None, [deployment(served())], None,
                       NOW)  # fmt: skip
    assert decision.decision == "Retrain"
