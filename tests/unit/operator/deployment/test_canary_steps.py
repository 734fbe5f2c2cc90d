"""The canary step machine, path by path, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from modelship.api.v1alpha1.progressive import (
    AnalysisResult,
    CanaryStatus,
    RolloutSpec,
    RolloutStep,
)
from modelship.operator.deployment.canary_steps import KEPT_ANALYSES, advance, window_closed

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def steps(*raw: dict[str, object]) -> list[RolloutStep]:
    return RolloutSpec.model_validate({"strategy": "canary", "steps": list(raw)}).steps


STANDARD = steps(
    {"setWeight": 10},
    {"analysis": {"interval": "1m", "count": 1, "minRequests": 100}},
    {"setWeight": 50},
    {"analysis": {"interval": "1m", "count": 2}},
    {"setWeight": 100},
)


def verdict(outcome: str, step: int = 1) -> AnalysisResult:
    return AnalysisResult(step=step, outcome=outcome, at="2026-12-02T09:01:00Z", message=outcome)  # type: ignore[arg-type]


def fresh() -> CanaryStatus:
    return CanaryStatus(version=2, digest="sha256:" + "a" * 64)


def test_a_good_canary_goes_10_then_50_then_100() -> None:
    first = advance(STANDARD, fresh(), T0, ready=False)
    assert (first.phase, first.canary.weight, first.canary.step) == ("Progressing", 10, 0)
    waiting = advance(STANDARD, first.canary, T0, ready=False)
    assert waiting.phase == "Waiting" and "not ready at 10%" in waiting.canary.waiting_for
    analysing = advance(STANDARD, first.canary, T0 + timedelta(seconds=5), ready=True)
    assert (analysing.phase, analysing.canary.step) == ("Waiting", 1)
    assert analysing.wake_in == pytest.approx(60)
    later = T0 + timedelta(seconds=66)
    assert window_closed(STANDARD, analysing.canary, later)
    at_50 = advance(STANDARD, analysing.canary, later, ready=True, verdict=verdict("Passed"))
    assert (at_50.phase, at_50.canary.weight, at_50.canary.step) == ("Progressing", 50, 2)
    assert [a.outcome for a in at_50.canary.analyses] == ["Passed"]
    second = advance(STANDARD, at_50.canary, later, ready=True)
    assert second.canary.step == 3
    one = advance(
        STANDARD,
        second.canary,
        later + timedelta(seconds=61),
        ready=True,
        verdict=verdict("Passed", 3),
    )
    assert one.phase == "Waiting" and "analysis 1/2 passed" in one.canary.waiting_for
    assert one.canary.weight == 50  # count: 2 needs a second window
    two = advance(
        STANDARD,
        one.canary,
        later + timedelta(seconds=122),
        ready=True,
        verdict=verdict("Passed", 3),
    )
    assert (two.phase, two.canary.weight) == ("Progressing", 100)
    done = advance(STANDARD, two.canary, later + timedelta(seconds=130), ready=True)
    assert (done.phase, done.canary.weight) == ("Completed", 100)


def at_analysis() -> CanaryStatus:
    return CanaryStatus.model_validate(
        {**fresh().to_wire(), "step": 1, "weight": 10, "stepStartedAt": "2026-12-02T09:00:00Z"}
    )


def test_an_open_window_is_not_judged() -> None:
    state = at_analysis()
    assert not window_closed(STANDARD, state, T0 + timedelta(seconds=30))
    decision = advance(
        STANDARD, state, T0 + timedelta(seconds=30), ready=True, verdict=verdict("Passed")
    )
    assert decision.phase == "Waiting" and decision.canary.analyses == []


def test_an_inconclusive_window_waits_and_never_passes() -> None:
    state = at_analysis()
    for minute in range(1, 6):
        now = T0 + timedelta(minutes=minute, seconds=1)
        decision = advance(STANDARD, state, now, ready=True, verdict=verdict("Inconclusive"))
        assert decision.phase == "Waiting"
        assert decision.canary.step == 1 and decision.canary.weight == 10
        assert decision.canary.waiting_for.startswith("inconclusive")
        state = decision.canary
    assert len(state.analyses) == 5


def test_a_failed_window_aborts_with_the_verdict() -> None:
    failed = verdict("Failed")
    decision = advance(
        STANDARD, at_analysis(), T0 + timedelta(minutes=2), ready=True, verdict=failed
    )
    assert decision.phase == "Aborted" and decision.failure == failed
    assert decision.canary.analyses[-1] == failed


def test_a_closed_window_without_a_verdict_waits_for_the_metrics() -> None:
    decision = advance(STANDARD, at_analysis(), T0 + timedelta(minutes=2), ready=True)
    assert (
        decision.phase == "Waiting" and "reading the pods' metrics" in decision.canary.waiting_for
    )


def test_analyses_kept_in_status_are_bounded() -> None:
    state = at_analysis()
    for minute in range(1, KEPT_ANALYSES + 10):
        now = T0 + timedelta(minutes=minute, seconds=1)
        state = advance(STANDARD, state, now, ready=True, verdict=verdict("Inconclusive")).canary
    assert len(state.analyses) == KEPT_ANALYSES


PAUSED = steps({"setWeight": 20}, {"pause": {}}, {"pause": {}}, {"setWeight": 100})


def test_an_indefinite_pause_waits_for_promote_and_one_promote_releases_one_pause() -> None:
    state = advance(PAUSED, fresh(), T0, ready=True).canary
    paused = advance(PAUSED, state, T0 + timedelta(hours=5), ready=True)
    assert paused.phase == "Waiting" and paused.wake_in is None
    assert "modelship promote" in paused.canary.waiting_for
    released = advance(PAUSED, paused.canary, T0 + timedelta(hours=5), ready=True, promote=True)
    assert released.phase == "Waiting" and released.canary.step == 2  # the second pause holds


def test_a_timed_pause_ends_by_itself() -> None:
    timed = steps({"setWeight": 30}, {"pause": {"duration": "10m"}}, {"setWeight": 100})
    state = advance(timed, fresh(), T0, ready=True).canary
    state = advance(timed, state, T0, ready=True).canary
    holding = advance(timed, state, T0 + timedelta(minutes=4), ready=True)
    assert holding.phase == "Waiting" and holding.wake_in == pytest.approx(360)
    moving = advance(timed, holding.canary, T0 + timedelta(minutes=10), ready=True)
    assert (moving.phase, moving.canary.weight) == ("Progressing", 100)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"strategy": "canary"}, "needs steps"),
        ({"strategy": "surge", "steps": [{"setWeight": 10}]}, "only to strategy: canary"),
        ({"strategy": "canary", "steps": [{"setWeight": 50}, {"setWeight": 10}]}, "lowers"),
        ({"strategy": "canary", "steps": [{"analysis": {}}]}, "no canary traffic"),
        ({"strategy": "canary", "steps": [{"setWeight": 10, "pause": {}}]}, "exactly one"),
        (
            {"strategy": "canary", "steps": [{"setWeight": 10}, {"pause": {"duration": "5"}}]},
            "pattern",
        ),
    ],
)
def test_incoherent_steps_are_refused_with_a_reason(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RolloutSpec.model_validate(spec)
