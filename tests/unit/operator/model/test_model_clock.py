"""The Models' clock: only Models that time alone can move are looked at: each minute when a
schedule or dataset check drives them, once when a held-back training becomes eligible."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import kopf

from modelship.operator import handlers
from modelship.operator.model.clock import (
    ELIGIBLE_MARGIN_SECONDS,
    FIRST_LOOK_SECONDS,
    INTERVAL_SECONDS,
    ModelClock,
    clock_driven,
    deferred_until,
)
from support.factories import iris_model
from support.handler_memo import Clock

KEY = ("ml", "iris")


def model(**retraining: Any) -> dict[str, Any]:
    return iris_model(metadata={"namespace": "ml"}, retraining=retraining)


def test_only_a_schedule_or_a_dataset_check_makes_a_model_clock_driven() -> None:
    assert clock_driven({"retraining": {"schedule": "0 * * * *"}})
    assert clock_driven({"retraining": {"onDatasetChange": True}})
    assert not clock_driven({"retraining": {"drift": {"threshold": 0.2}}})
    assert not clock_driven({"suspend": True, "retraining": {"schedule": "0 * * * *"}})


def test_a_first_look_after_half_a_minute_then_every_minute_and_none_once_not_driven() -> None:
    clock = Clock()
    models = ModelClock(clock)
    models.seen(KEY, model())
    assert models.planned() == 0
    models.seen(KEY, model(schedule="0 * * * *"))
    assert models.schedule.scheduled(KEY) == clock.now + FIRST_LOOK_SECONDS
    clock.now += 10
    models.seen(KEY, model(schedule="0 * * * *"))  # another event: the look is not postponed
    assert models.schedule.scheduled(KEY) == clock.now - 10 + FIRST_LOOK_SECONDS
    assert not models.take(KEY)
    clock.now += FIRST_LOOK_SECONDS
    assert models.take(KEY) and not models.take(KEY)
    models.schedule.done(KEY)
    assert models.schedule.scheduled(KEY) == clock.now + INTERVAL_SECONDS
    suspended = model(schedule="0 * * * *")
    suspended["spec"]["suspend"] = True
    models.seen(KEY, suspended)
    assert models.planned() == 0 and models.schedule.scheduled(KEY) is None
    models.seen(KEY, model(schedule="0 * * * *"))
    models.seen(KEY, model(schedule="0 * * * *"), deleted=True)
    assert models.planned() == 0


async def test_a_due_model_is_reconciled_by_the_clock(monkeypatch: Any) -> None:
    memo = kopf.Memo(model_clock=ModelClock())
    looked: list[tuple[str, str]] = []
    monkeypatch.setattr(handlers, "_model", lambda _m, ns, name, _l: looked.append((ns, name)))
    monkeypatch.setattr("modelship.operator.model.clock.FIRST_LOOK_SECONDS", 0.05)
    stopped = asyncio.Event()
    runner = asyncio.create_task(
        memo.model_clock.schedule.run(partial(handlers.model_clock_pass, memo), stopped)
    )
    await handlers.model_seen(body=model(onDatasetChange=True), memo=memo, type="ADDED")
    await handlers.model_seen(body=iris_model("other", metadata={"namespace": "ml"}), memo=memo)
    await asyncio.sleep(0.3)
    assert looked == [KEY]  # the Model without a schedule or dataset check is never looked at
    stopped.set()
    await asyncio.wait_for(runner, timeout=1)


WALL = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def deferred(
    eligible: datetime | None, decision: str = "Deferred", **retraining: Any
) -> dict[str, Any]:
    body = model(drift={"threshold": 0.2}, **retraining)
    state: dict[str, Any] = {"decision": decision, "reason": "Cooldown"}
    if eligible is not None:
        state["nextEligibleAt"] = eligible.strftime("%Y-%m-%dT%H:%M:%SZ")
    body["status"] = {"retraining": state}
    return body


def test_a_held_back_training_is_looked_at_once_just_after_it_becomes_eligible() -> None:
    clock = Clock()
    models = ModelClock(clock, wall=lambda: WALL)
    assert deferred_until(deferred(WALL + timedelta(seconds=600))) is not None
    models.seen(KEY, deferred(WALL + timedelta(seconds=600)))
    look = clock.now + 600 + ELIGIBLE_MARGIN_SECONDS
    assert models.schedule.scheduled(KEY) == look
    models.seen(KEY, deferred(WALL + timedelta(seconds=600)))  # the same hold: the same look
    assert models.schedule.scheduled(KEY) == look
    clock.now = look - 1
    assert not models.take(KEY)
    clock.now = look
    assert models.take(KEY) and not models.take(KEY)  # once: the reconcile's write brings more
    models.schedule.done(KEY)
    assert models.planned() == 0 and models.schedule.scheduled(KEY) is None


def test_only_a_deferred_decision_with_a_time_plans_a_look() -> None:
    clock = Clock()
    models = ModelClock(clock, wall=lambda: WALL)
    models.seen(KEY, deferred(WALL + timedelta(seconds=60)))
    assert models.planned() == 1
    models.seen(KEY, deferred(WALL + timedelta(seconds=60), decision="Retrain"))
    assert models.planned() == 0 and models.schedule.scheduled(KEY) is None
    models.seen(KEY, deferred(None))  # held back by an active TrainingJob: its event comes
    assert models.planned() == 0
    suspended = deferred(WALL + timedelta(seconds=60))
    suspended["spec"]["suspend"] = True
    models.seen(KEY, suspended)
    assert models.planned() == 0
    models.seen(KEY, deferred(WALL - timedelta(seconds=60)))  # eligible already: look soon
    assert models.schedule.scheduled(KEY) == clock.now + ELIGIBLE_MARGIN_SECONDS
    models.seen(KEY, deferred(WALL + timedelta(seconds=60)), deleted=True)
    assert models.planned() == 0


def test_a_clock_driven_model_held_back_looks_at_whichever_comes_first() -> None:
    clock = Clock()
    models = ModelClock(clock, wall=lambda: WALL)
    models.seen(KEY, deferred(WALL + timedelta(seconds=5), schedule="0 * * * *"))
    assert models.schedule.scheduled(KEY) == clock.now + 5 + ELIGIBLE_MARGIN_SECONDS
    clock.now += 5 + ELIGIBLE_MARGIN_SECONDS
    assert models.take(KEY)
    models.schedule.done(KEY)
    assert models.schedule.scheduled(KEY) == clock.now - 5 - ELIGIBLE_MARGIN_SECONDS + 30.0


async def test_a_held_back_model_is_reconciled_when_its_cooldown_ends(monkeypatch: Any) -> None:
    memo = kopf.Memo(model_clock=ModelClock())
    looked: list[tuple[str, str]] = []
    monkeypatch.setattr(handlers, "_model", lambda _m, ns, name, _l: looked.append((ns, name)))
    monkeypatch.setattr("modelship.operator.model.clock.ELIGIBLE_MARGIN_SECONDS", 0.05)
    stopped = asyncio.Event()
    runner = asyncio.create_task(
        memo.model_clock.schedule.run(partial(handlers.model_clock_pass, memo), stopped)
    )
    now = datetime.now(UTC)
    await handlers.model_seen(body=deferred(now), memo=memo, type="MODIFIED")
    await handlers.model_seen(
        body=deferred(now + timedelta(hours=1)) | {"metadata": {"namespace": "ml", "name": "b"}},
        memo=memo,
        type="MODIFIED",
    )
    await asyncio.sleep(0.3)
    assert looked == [KEY]  # the one whose cooldown ended; the other waits its hour
    stopped.set()
    await asyncio.wait_for(runner, timeout=1)
