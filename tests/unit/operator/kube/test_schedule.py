"""One clock for many objects: each key runs when due, once at a time, woken by earlier times."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from typing import Any

from modelship.operator.kube.schedule import Schedule
from support.handler_memo import Clock


def test_a_key_is_due_once_at_its_latest_time_and_not_again_while_running() -> None:
    clock, times = Clock(), {"a": 105.0, "b": 110.0}
    schedule = Schedule(times.get, clock)
    schedule.touch("a")
    schedule.touch("b")
    times["a"] = 103.0
    schedule.touch("a")  # moved earlier: the 105 entry is superseded
    assert schedule.take_due() == []
    clock.now = 104.0
    assert schedule.take_due() == ["a"]
    clock.now = 106.0
    assert schedule.take_due() == []  # the old 105 entry does not run it twice
    times["a"] = 106.0
    schedule.touch("a")  # due again while running: waits for `done`
    assert schedule.take_due() == []
    schedule.done("a")
    assert schedule.take_due() == ["a"]
    clock.now = 111.0
    assert schedule.take_due() == ["b"]


def test_a_forgotten_key_or_one_with_nothing_due_is_not_run() -> None:
    clock, times = Clock(), {"a": 101.0, "b": 101.0}
    schedule = Schedule(times.get, clock)
    schedule.touch("a")
    schedule.touch("b")
    schedule.forget("a")
    times["b"] = None  # type: ignore[assignment]
    schedule.touch("b")
    clock.now = 200.0
    assert schedule.take_due() == [] and len(schedule) == 0
    assert schedule.seconds_until_next() is None


async def test_the_runner_sleeps_until_due_and_wakes_for_an_earlier_time_from_a_thread() -> None:
    start = time.monotonic()
    times: dict[Hashable, float | None] = {"a": start + 30.0}
    runs: list[float] = []
    schedule = Schedule(times.get)

    async def work(key: Hashable) -> None:
        runs.append(time.monotonic() - start)
        times[key] = None  # nothing more is due

    stopped = asyncio.Event()
    runner = asyncio.create_task(schedule.run(work, stopped))
    schedule.touch("a")
    await asyncio.sleep(0.2)
    assert runs == []  # asleep towards 30 s
    times["a"] = time.monotonic() + 0.1
    await asyncio.to_thread(schedule.touch, "a")
    await asyncio.sleep(0.3)
    assert len(runs) == 1 and 0.2 < runs[0] < 0.5
    stopped.set()
    await asyncio.wait_for(runner, timeout=1)


async def test_work_replans_when_it_ends_and_stopping_waits_for_work_under_way() -> None:
    times: dict[Hashable, float | None] = {"a": 0.0}
    runs: list[str] = []
    release = asyncio.Event()
    schedule = Schedule(times.get)

    async def work(key: Hashable) -> None:
        runs.append("start")
        if len(runs) == 1:
            raise RuntimeError("a failing pass does not stop the clock")
        times[key] = time.monotonic() + 0.05 if len(runs) < 3 else None
        if len(runs) == 3:
            await release.wait()
            runs.append("end")

    stopped = asyncio.Event()
    runner = asyncio.create_task(schedule.run(work, stopped))
    schedule.touch("a")
    await asyncio.sleep(0.3)
    assert runs == ["start", "start", "start"]  # failed, replanned at once, then 50 ms later
    stopped.set()
    await asyncio.sleep(0.05)
    assert not runner.done()  # waits for the pass under way
    release.set()
    await asyncio.wait_for(runner, timeout=1)
    assert runs[-1] == "end"


async def test_a_touch_on_the_runner_s_own_loop_wakes_it_without_the_self_pipe() -> None:
    """Watch events are handled on the loop: each touch went through call_soon_threadsafe, a
    byte on the loop's self-pipe, and a burst of them filled it."""
    clock = Clock()
    due: dict[Hashable, float] = {}
    schedule = Schedule(due.get, clock)
    ran: list[Hashable] = []

    async def work(key: Hashable) -> None:
        ran.append(key)
        due.pop(key)  # nothing more is due

    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    through_pipe: list[object] = []
    original = loop.call_soon_threadsafe

    def counted(*args: Any, **kwargs: Any) -> Any:
        through_pipe.append(args)
        return original(*args, **kwargs)

    loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
    try:
        runner = asyncio.create_task(schedule.run(work, stopped))
        await asyncio.sleep(0.01)
        due["k"] = clock.now
        schedule.touch("k")
        for _ in range(100):
            if ran:
                break
            await asyncio.sleep(0.01)
        stopped.set()
        await runner
    finally:
        loop.call_soon_threadsafe = original  # type: ignore[method-assign]
    assert ran == ["k"]
    assert through_pipe == []
