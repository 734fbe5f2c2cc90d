"""Automatic retraining decisions, drift combination and auto-approval, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from modelship.api.v1alpha1 import (
    AutomaticRun,
    Gate,
    ModelSpec,
    RetrainingStatus,
)
from modelship.contracts.gates import Champion, evaluate_gates
from modelship.operator.model.dataset_probe import DatasetProbe, head_validator
from modelship.operator.model.observation import ObservedTrainingJob, ServingDeployment
from modelship.operator.model.retraining import (
    automatic_runs,
    check_guardrails,
    fmt,
    next_dataset_state,
    parse_schedule,
    plan,
    record_training,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def spec(**retraining: Any) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "task": "classification",
            "dataset": {"uri": "builtin:iris"},
            "algorithm": {"name": "random_forest"},
            "retraining": retraining,
        }
    )


def tj(name: str, trigger: Any, created: datetime) -> ObservedTrainingJob:
    return ObservedTrainingJob(name, fmt(created), trigger)


NONE = RetrainingStatus()


def serving(psi: float, rows: int, version: int = 1, name: str = "iris") -> ServingDeployment:
    return ServingDeployment.from_body(_serving(psi, rows, version, name))


def _serving(psi: float, rows: int, version: int, name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {
            "production": {"version": version, "digest": "sha256:a", "promotedAt": fmt(NOW)},
            "drift": {
                "version": version,
                "overall": psi,
                "max": psi * 2,
                "rows": rows,
                "worst": "petal=1.2",
            },
        },
    }


# -- schedule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("6h", 21600), ("1d", 86400), ("90s", 90)]
)
def test_intervals_parse(text: str, seconds: int) -> None:
    schedule = parse_schedule(text)
    assert schedule.interval is not None and schedule.interval.total_seconds() == seconds


def test_cron_parses_and_gives_its_slots() -> None:
    schedule = parse_schedule("0 3 * * *")
    assert schedule.interval is None
    since = NOW - timedelta(days=2)
    assert schedule.last_slot(since, NOW) == datetime(2025, 3, 1, 3, 0, tzinfo=UTC)
    assert schedule.next_slot(since, NOW) == datetime(2025, 3, 2, 3, 0, tzinfo=UTC)
    # a schedule set after today's slot waits for tomorrow's
    assert schedule.last_slot(NOW - timedelta(hours=1), NOW) is None


@pytest.mark.parametrize("text", ["every day", "6x", "10s", "* * *", "61 * * * *", ""])
def test_invalid_schedules_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match=r"schedule|shorter"):
        parse_schedule(text)


def test_interval_slots_count_from_when_the_schedule_was_set() -> None:
    schedule = parse_schedule("6h")
    since = NOW - timedelta(hours=13)
    assert schedule.last_slot(since, NOW) == since + timedelta(hours=12)  # missed slots: one run
    assert schedule.next_slot(since, NOW) == since + timedelta(hours=18)
    assert schedule.last_slot(NOW - timedelta(hours=5), NOW) is None


def test_a_due_schedule_slot_trains_once() -> None:
    model = spec(schedule="6h")
    decision, state = plan("iris", model, NONE, [], None, [], None, NOW)
    assert decision.decision == "NotNeeded" and decision.reason == "NotDue"
    assert state.schedule is not None and state.schedule.since == fmt(NOW)
    later = NOW + timedelta(hours=6, minutes=1)
    decision, state = plan("iris", model, state, [], None, [], None, later)
    assert decision.decision == "Retrain" and decision.request is not None
    assert decision.request.trigger == "schedule"
    assert decision.request.key == fmt(NOW + timedelta(hours=6))
    state = record_training(
        state, decision.request, "iris-schedule-x", fmt(later), model.retraining
    )
    again, _ = plan("iris", model, state, [], None, [], None, later + timedelta(minutes=5))
    assert again.request is None  # the same slot is deduplicated


def test_an_invalid_schedule_is_reported_not_retried() -> None:
    decision, state = plan("iris", spec(schedule="every tuesday"), NONE, [], None, [], None, NOW)
    assert decision.decision == "Invalid" and decision.reason == "InvalidSchedule"
    assert decision.request is None and "every tuesday" in decision.problems[0]
    again, _ = plan("iris", spec(schedule="every tuesday"), state, [], None, [], None, NOW)
    assert again.request is None and state.at == fmt(NOW)


# -- drift decisions ---------------------------------------------------------------------------


def test_drift_above_threshold_with_enough_rows_retrains_and_names_the_worst_features() -> None:
    model = spec(drift={"threshold": 0.2, "minRows": 100})
    decision, state = plan("iris", model, NONE, [], None, [serving(0.5, 400)], None, NOW)
    assert decision.decision == "Retrain" and decision.request is not None
    assert decision.request.trigger == "drift" and "petal=1.2" in decision.request.reason
    assert state.drift is not None and state.drift.episode == 1 and state.drift.open is True


@pytest.mark.parametrize(
    ("psi", "rows", "reason"),
    [(0.05, 400, "BelowThreshold"), (0.9, 50, "TooFewRows")],
)
def test_no_retraining_below_threshold_or_with_too_few_rows(
    psi: float, rows: int, reason: str
) -> None:
    model = spec(drift={"threshold": 0.2, "minRows": 100})
    decision, _ = plan("iris", model, NONE, [], None, [serving(psi, rows)], None, NOW)
    assert decision.decision == "NotNeeded" and decision.reason == reason
    assert decision.request is None


def test_the_max_aggregate_holds_the_worst_feature_to_the_threshold() -> None:
    model = spec(drift={"threshold": 0.2, "aggregate": "max"})
    decision, _ = plan("iris", model, NONE, [], None, [serving(0.15, 400)], None, NOW)
    assert decision.decision == "Retrain"  # max is 0.3 while the mean is 0.15


def test_one_drift_episode_trains_once_and_a_new_one_opens_only_after_it_closed() -> None:
    model = spec(drift={"threshold": 0.2}, cooldownSeconds=0)
    decision, state = plan("iris", model, NONE, [], None, [serving(0.5, 400)], None, NOW)
    assert decision.request is not None
    state = record_training(state, decision.request, "iris-drift-1", fmt(NOW), model.retraining)
    later = NOW + timedelta(minutes=5)
    again, state = plan("iris", model, state, [], None, [serving(0.7, 900)], None, later)
    assert again.request is None and again.reason == "AlreadyRequested"
    _, state = plan("iris", model, state, [], None, [serving(0.05, 900)], None, later)
    assert state.drift is not None and state.drift.open is False
    back, state = plan("iris", model, state, [], None, [serving(0.6, 900)], None, later)
    assert back.request is not None and state.drift is not None and state.drift.episode == 2
    assert back.request.key != decision.request.key


def test_a_new_production_version_starts_a_new_episode() -> None:
    model = spec(drift={"threshold": 0.2}, cooldownSeconds=0)
    decision, state = plan("iris", model, NONE, [], None, [serving(0.5, 400)], None, NOW)
    assert decision.request is not None
    state = record_training(state, decision.request, "iris-drift-1", fmt(NOW), model.retraining)
    again, state = plan("iris", model, state, [], None, [serving(0.5, 400, version=2)], None, NOW)
    assert again.request is not None and state.drift is not None and state.drift.version == 2


# -- guardrails --------------------------------------------------------------------------------


def test_cooldown_defers_a_drift_retraining_until_it_ends() -> None:
    model = spec(drift={"threshold": 0.2}, cooldownSeconds=3600)
    last = NOW - timedelta(minutes=10)
    tjs = [tj("iris-schedule-1", "schedule", last)]
    decision, state = plan("iris", model, NONE, tjs, None, [serving(0.5, 400)], None, NOW)
    assert decision.decision == "Deferred" and decision.reason == "Cooldown"
    assert state.next_eligible_at == fmt(last + timedelta(hours=1))
    decision, _ = plan(
        "iris", model, state, tjs, None, [serving(0.5, 400)], None, NOW + timedelta(minutes=51)
    )
    assert decision.decision == "Retrain"


def test_manual_and_spec_change_trainings_do_not_start_a_cooldown() -> None:
    model = spec(drift={"threshold": 0.2}, cooldownSeconds=3600)
    tjs = [tj("iris-g1", "spec-change", NOW), tj("iris-manual-1", "manual", NOW)]
    decision, _ = plan("iris", model, NONE, tjs, None, [serving(0.5, 400)], None, NOW)
    assert decision.decision == "Retrain"


def test_drift_may_have_its_own_cooldown() -> None:
    model = spec(drift={"threshold": 0.2, "cooldownSeconds": 60}, cooldownSeconds=3600)
    tjs = [tj("iris-schedule-1", "schedule", NOW - timedelta(minutes=2))]
    decision, _ = plan("iris", model, NONE, tjs, None, [serving(0.5, 400)], None, NOW)
    assert decision.decision == "Retrain"


def test_an_active_training_defers_the_request() -> None:
    model = spec(drift={"threshold": 0.2})
    decision, _ = plan("iris", model, NONE, [], "iris-g2", [serving(0.5, 400)], None, NOW)
    assert decision.decision == "Deferred" and decision.reason == "TrainingActive"
    assert "iris-g2" in decision.message


def test_the_daily_cap_counts_pruned_jobs_from_status_and_existing_ones() -> None:
    policy = spec(cooldownSeconds=0, maxPerDay=3, schedule="1h").retraining
    remembered = [
        AutomaticRun(training_job="a", trigger="drift", at=fmt(NOW - timedelta(hours=20))),
        AutomaticRun(training_job="b", trigger="schedule", at=fmt(NOW - timedelta(hours=25))),
    ]
    tjs = [
        tj("c", "schedule", NOW - timedelta(hours=2)),
        tj("a", "drift", NOW - timedelta(hours=20)),  # the same run as in status: counted once
        tj("d", "dataset-change", NOW - timedelta(hours=1)),
        tj("e", "manual", NOW),
    ]
    runs = automatic_runs(tjs, remembered, NOW)
    assert [r.training_job for r in runs] == ["a", "c", "d"]
    guard = check_guardrails("schedule", policy, None, runs, NOW - timedelta(hours=1), NOW)
    assert not guard.allowed and guard.reason == "DailyCap"
    assert guard.next_eligible_at == NOW + timedelta(hours=4)  # when run "a" is 24 hours old
    later = NOW + timedelta(hours=4, seconds=1)
    assert check_guardrails(
        "schedule", policy, None, automatic_runs(tjs, remembered, later), NOW, later
    ).allowed


def test_a_decision_keeps_its_time_until_it_changes() -> None:
    model = spec(drift={"threshold": 0.2})
    _, state = plan("iris", model, NONE, [], None, [serving(0.05, 400)], None, NOW)
    _, again = plan(
        "iris", model, state, [], None, [serving(0.06, 500)], None, NOW + timedelta(minutes=1)
    )
    assert again.at == fmt(NOW) and again.reason == "BelowThreshold"


# -- dataset change ----------------------------------------------------------------------------


def test_a_changed_dataset_validator_retrains_once() -> None:
    model = spec(onDatasetChange=True, cooldownSeconds=0)
    model.dataset.uri = "https://example.org/data.csv"
    first = next_dataset_state(None, model.dataset.uri, ('etag:"1"', None), NOW)
    decision, state = plan("iris", model, NONE, [], None, [], first, NOW)
    assert decision.request is None and decision.reason == "DatasetUnchanged"
    changed = next_dataset_state(state.dataset, model.dataset.uri, ('etag:"2"', None), NOW)
    decision, state = plan("iris", model, state, [], None, [], changed, NOW)
    assert decision.request is not None and decision.request.trigger == "dataset-change"
    state = record_training(state, decision.request, "iris-dataset", fmt(NOW), model.retraining)
    again, _ = plan("iris", model, state, [], None, [], state.dataset, NOW)
    assert again.request is None


def test_a_dataset_that_cannot_be_checked_is_reported() -> None:
    model = spec(onDatasetChange=True)
    gone = next_dataset_state(None, "https://x/d.csv", (None, "HEAD: HTTP 404"), NOW)
    decision, _ = plan("iris", model, NONE, [], None, [], gone, NOW)
    assert decision.request is None and decision.reason == "DatasetUnchecked"


def test_champion_gates_require_the_margin_over_production() -> None:
    gates = [
        Gate(metric="accuracy", min_improvement=0.01),
        Gate(metric="rmse", min_improvement=0.1),
    ]
    results = evaluate_gates(
        gates, {"accuracy": 0.95, "rmse": 0.85}, Champion(1, {"accuracy": 0.93, "rmse": 0.9})
    )
    assert [r.passed for r in results] == [True, False]
    assert "production version 1" in results[0].bound
    alone = evaluate_gates(gates, {"accuracy": 0.5, "rmse": 9.0}, None)
    assert all(r.passed for r in alone)  # nothing in production: no comparison


def test_the_dataset_probe_uses_etag_then_last_modified_and_reports_failures() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.method == "HEAD"
        return {
            "/etag.csv": httpx.Response(200, headers={"ETag": '"v2"', "Last-Modified": "x"}),
            "/modified.csv": httpx.Response(200, headers={"Last-Modified": "Sat, 01 Mar 2025"}),
            "/plain.csv": httpx.Response(200),
        }.get(request.url.path, httpx.Response(404))

    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        assert head_validator(http, "http://d/etag.csv") == ('etag:"v2"', None)
        assert head_validator(http, "http://d/modified.csv")[0] == "last-modified:Sat, 01 Mar 2025"
        assert "neither ETag" in str(head_validator(http, "http://d/plain.csv")[1])
        assert "404" in str(head_validator(http, "http://d/gone.csv")[1])
    probe = DatasetProbe(interval_seconds=300)
    assert probe.check(("ns", "m"), "builtin:iris") == ("builtin:iris", None)
    assert "probe Job" in str(probe.check(("ns", "m"), "file:///data/x.csv")[1])
    probe.close()
