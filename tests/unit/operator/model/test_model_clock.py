"""The Models' clock: only Models that time alone can make train are looked at, each minute."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import kopf

from modelship.operator import handlers
from modelship.operator.model.clock import (
    FIRST_LOOK_SECONDS,
    INTERVAL_SECONDS,
    ModelClock,
    clock_driven,
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
