"""`retraining.drift.requirePerformanceDrop`: input drift retrains only with a confirmed drop of
production's live metric, judged by `retraining.performance`'s rule (or, without one, the whole
interval below the offline value); unset, drift retrains as it always did.

The decision table: (requirePerformanceDrop, performance rule, production's drift, production's
live figure) -> the decision `plan` makes and why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelship.api.v1alpha1 import ModelSpec, RetrainingStatus
from modelship.operator.model.decay import drift_gate_policy, observe_decay
from modelship.operator.model.observation import ServingDeployment
from modelship.operator.model.retraining import fmt, plan
from modelship.operator.model.summary import policy_summary

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DIGEST = "sha256:a"
SHIFTED = {"overall": 0.6, "max": 1.4, "rows": 500, "worst": "alcohol=1.4"}
STEADY = {"overall": 0.05, "max": 0.08, "rows": 500}
# Live accuracy: the covariate shift left predictions right (0.94 [0.91, 0.96] beside 0.95
# offline); the concept changed (0.51 [0.44, 0.58]); a dip the interval cannot confirm.
HOLDS = {"value": 0.94, "low": 0.91, "high": 0.96, "labelled": 400}
DROPPED = {"value": 0.51, "low": 0.44, "high": 0.58, "labelled": 200}
UNCONFIRMED = {"value": 0.9, "low": 0.82, "high": 0.97, "labelled": 120}
FEW = {"value": 0.5, "low": 0.2, "high": 0.8, "labelled": 10}


def deployment(drift: dict[str, Any], live: dict[str, Any] | None) -> ServingDeployment:
    status: dict[str, Any] = {
        "production": {"version": 1, "digest": DIGEST, "promotedAt": fmt(NOW)},
        "drift": {"version": 1, "digest": DIGEST, **drift},
    }
    if live is not None:
        served = {"version": 1, "digest": DIGEST, "role": "production", "metric": "accuracy",
                  "captured": 1000, "offline": 0.95, **live}  # fmt: skip
        status["performance"] = {"versions": [served]}
    return ServingDeployment.from_body({"metadata": {"name": "wine"}, "status": status})


def spec(require: bool | None, performance: dict[str, Any] | None = None) -> ModelSpec:
    drift: dict[str, Any] = {"threshold": 0.2}
    if require is not None:
        drift["requirePerformanceDrop"] = require
    retraining: dict[str, Any] = {"drift": drift, "cooldownSeconds": 0}
    if performance is not None:
        retraining["performance"] = performance
    return ModelSpec.model_validate({
        "task": "classification", "dataset": {"uri": "builtin:wine"},
        "algorithm": {"name": "random_forest"}, "retraining": retraining,
    })  # fmt: skip


BELOW_08 = {"below": 0.8}
DROP_BY_10 = {"dropBy": 0.1, "minLabels": 50}

# (case, requirePerformanceDrop, performance rule, drift, live) -> (decision, reason, trigger)
TABLE = [
    # Unset or false: today's behaviour, whatever the labels say.
    ("unset, covariate shift", None, None, SHIFTED, HOLDS, "Retrain", "Drift", "drift"),
    ("false, covariate shift", False, None, SHIFTED, HOLDS, "Retrain", "Drift", "drift"),
    ("unset, never evaluated", None, None, SHIFTED, None, "Retrain", "Drift", "drift"),
    # Set, no performance rule: the interval must lie wholly below the offline value.
    ("covariate shift", True, None, SHIFTED, HOLDS, "NotNeeded", "DriftWithoutPerformanceDrop",
     None),
    ("drift and a drop", True, None, SHIFTED, DROPPED, "Retrain", "Drift", "drift"),
    ("drop not confirmed", True, None, SHIFTED, UNCONFIRMED, "NotNeeded",
     "DriftWithoutPerformanceDrop", None),
    ("too few labels", True, None, SHIFTED, FEW, "NotNeeded", "DriftWithoutPerformanceDrop",
     None),
    ("never evaluated", True, None, SHIFTED, None, "NotNeeded", "DriftWithoutPerformanceDrop",
     None),
    ("no drift", True, None, STEADY, DROPPED, "NotNeeded", "BelowThreshold", None),
    # Set, with a performance rule: its rule decides (and a drop is also its own trigger,
    # weighed after drift).
    ("rule: covariate shift", True, DROP_BY_10, SHIFTED, HOLDS, "NotNeeded",
     "DriftWithoutPerformanceDrop", None),
    ("rule: drift and a drop", True, DROP_BY_10, SHIFTED, DROPPED, "Retrain", "Drift", "drift"),
    # 0.82..0.97 is not confidently below 0.95 - 0.1, and 120 labels pass minLabels 50.
    ("rule: dip inside dropBy", True, DROP_BY_10, SHIFTED, UNCONFIRMED, "NotNeeded",
     "DriftWithoutPerformanceDrop", None),
    # The rule's own threshold, not the offline value: 0.91..0.96 is above below=0.8.
    ("rule: below 0.8 holds", True, BELOW_08, SHIFTED, HOLDS, "NotNeeded",
     "DriftWithoutPerformanceDrop", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "require", "rule", "drift", "live", "decision", "reason", "trigger"),
    TABLE,
    ids=[row[0] for row in TABLE],
)
def test_the_decision_table(
    case: str, require: bool | None, rule: dict[str, Any] | None, drift: dict[str, Any],
    live: dict[str, Any] | None, decision: str, reason: str, trigger: str | None,
) -> None:  # fmt: skip
    made, state = plan("wine", spec(require, rule), RetrainingStatus(), [], None,
                       [deployment(drift, live)], None, NOW)  # fmt: skip
    assert (made.decision, made.reason, made.trigger) == (decision, reason, trigger), made.message
    assert (made.request is not None) == (decision == "Retrain")
    assert (state.decision, state.reason) == (decision, reason)  # recorded in status


def test_a_held_back_drift_says_why_and_keeps_its_episode() -> None:
    made, state = plan("wine", spec(True), RetrainingStatus(), [], None,
                       [deployment(SHIFTED, HOLDS)], None, NOW)  # fmt: skip
    assert made.message == (
        "drift: mean PSI 0.6 > threshold 0.2 over 500 rows of production version 1 (Deployment "
        "wine); worst: alcohol=1.4; not retrained: requirePerformanceDrop and no confirmed drop "
        "of production's live metric (live accuracy 0.940 [0.910, 0.960] over 400 labels, "
        "offline 0.950 of production version 1 (Deployment wine): not worse than 0.95)"
    )
    assert state.message == made.message
    assert state.drift is not None and state.drift.open and state.drift.episode == 1
    # The same episode retrains once the labels confirm a drop.
    later, _ = plan("wine", spec(True), state, [], None, [deployment(SHIFTED, DROPPED)], None,
                    NOW)  # fmt: skip
    assert later.decision == "Retrain" and later.request is not None
    assert later.request.key == "wine/v1/episode-1"
    assert "confirmed by a performance drop: live accuracy 0.510" in later.request.reason


def test_the_gate_takes_the_performance_rule_without_its_futility_guard() -> None:
    rule = spec(True, {"below": 0.8}).retraining.performance
    gate = drift_gate_policy(rule, "classification")
    assert gate.below == 0.8 and gate.require_new_labels is False
    # A performance training already used these labels; the drift gate still sees the drop.
    seen = observe_decay(gate, [deployment(SHIFTED, DROPPED)], None)
    assert seen.state == "decayed"
    default = drift_gate_policy(None, "regression")
    assert (default.metric, default.drop_by, default.decide_on, default.min_labels) == (
        "mae", 0.0, "bound", 100,
    )  # fmt: skip


def test_the_policy_summary_names_the_requirement() -> None:
    assert "drift above 0.2 (mean PSI) with a confirmed performance drop" in policy_summary(
        spec(True)
    )
    assert "confirmed" not in policy_summary(spec(None))
