"""What production gets from a recommendation: bounds, floors, holds, and the reason given."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modelship.api.v1alpha1 import Deployment
from modelship.api.v1alpha1.autoscaling import Autoscaling, AutoscalingStatus
from modelship.operator.deployment.autoscale import Recommendation
from modelship.operator.deployment.scaling import Current, floor, keeps_pdb, scale

NOW = "2025-03-01T12:00:00Z"
EARLIER = "2025-03-01T11:00:00Z"
SPEC = Autoscaling(min_replicas=2, max_replicas=6, target_concurrency=10)


def rec(
    replicas: int, panic: bool = False, full: bool = True, load: float | None = None
) -> Recommendation:
    figure = load if load is not None else replicas * 10.0
    return Recommendation(replicas, panic, figure, figure, 30, full, 3, 100.0)


def decide(
    recommendation: Recommendation | None,
    have: int | None,
    hold: str | None = None,
    spec: Autoscaling = SPEC,
    start: int = 2,
) -> AutoscalingStatus:
    previous = AutoscalingStatus(mode="operator", last_scale_time=EARLIER)
    return scale(spec, start, recommendation, Current(have, hold), previous, NOW)


def test_the_spec_keeps_its_bounds_in_order() -> None:
    with pytest.raises(ValidationError, match=r"minReplicas \(5\) exceeds maxReplicas \(2\)"):
        Autoscaling(min_replicas=5, max_replicas=2)
    with pytest.raises(ValidationError):
        Autoscaling(target_concurrency=0)
    parsed = Deployment.model_validate(
        {
            "spec": {
                "modelRef": {"name": "iris"},
                "production": {"autoscaling": {"maxReplicas": 4, "targetConcurrency": 2.5}},
            }
        }
    ).spec.production.autoscaling
    assert parsed == Autoscaling(min_replicas=1, max_replicas=4, target_concurrency=2.5)
    assert parsed.mode == "operator"


def test_production_starts_at_its_replicas_within_bounds() -> None:
    assert decide(None, None, start=1).desired_replicas == 2
    assert decide(None, None, start=9).desired_replicas == 6
    started = decide(None, None, start=3)
    assert started.desired_replicas == 3 and started.last_scale_time == NOW


def test_without_a_reading_production_keeps_its_count_within_bounds() -> None:
    status = decide(None, 4)
    assert status.desired_replicas == 4 and status.last_scale_time == EARLIER
    assert status.reason == "4: no reading of the in-flight gauge yet"
    assert decide(None, 9).desired_replicas == 6  # the bounds changed: follow them


def test_load_scales_up_at_once_within_the_maximum() -> None:
    status = decide(rec(5, load=42), 2)
    assert status.desired_replicas == 5 and status.last_scale_time == NOW
    assert status.reason == "5: stable window: 42 in flight / target 10"
    assert status.recommended_replicas == 5 and status.stable_concurrency == 42
    capped = decide(rec(9, panic=True), 2)
    assert capped.desired_replicas == 6 and capped.panic
    assert "wants 9, bounded to [2, 6]" in capped.reason


def test_idle_production_never_goes_below_its_floor() -> None:
    status = decide(rec(0), 2)
    assert status.desired_replicas == 2 and status.last_scale_time == EARLIER


def test_the_disruption_budget_sets_the_floor() -> None:
    assert keeps_pdb(SPEC) and floor(SPEC) == 2
    single = Autoscaling(min_replicas=1, max_replicas=3)
    assert not keeps_pdb(single) and floor(single) == 1
    assert decide(rec(0), 2, spec=single).desired_replicas == 1


def test_scaling_down_halves_at_most_per_step() -> None:
    status = decide(rec(1), 6)
    assert status.desired_replicas == 3
    assert status.reason.startswith("3: at most halving per step, towards 2")
    assert decide(rec(2), 3).desired_replicas == 2


@pytest.mark.parametrize(
    ("recommendation", "why"),
    [
        (rec(2, panic=True), "panicking, never scaling down"),
        (rec(2, full=False), "scale-down waits for a full stable window"),
    ],
    ids=["panic", "window-not-full"],
)
def test_a_scale_down_waits(recommendation: Recommendation, why: str) -> None:
    status = decide(recommendation, 5)
    assert status.desired_replicas == 5 and status.last_scale_time == EARLIER
    assert why in status.reason


def test_a_scale_up_does_not_wait_for_a_full_window() -> None:
    assert decide(rec(5, full=False), 3).desired_replicas == 5


def test_a_rollout_step_holds_the_count_either_way() -> None:
    up = decide(rec(6), 2, hold="canary of version 2 in progress (step 1)")
    assert up.desired_replicas == 2
    assert up.reason == "held at 2: canary of version 2 in progress (step 1)"
    assert up.recommended_replicas == 6  # what the load wants is still shown
    down = decide(rec(2), 5, hold="version 3 is being promoted")
    assert down.desired_replicas == 5 and down.last_scale_time == EARLIER
