"""Handoff: event handlers start reconciles on threads without waiting, one waiting run per key."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from modelship.operator.kube.handoff import Handoff


def test_requests_for_a_key_whose_run_has_not_started_add_no_run() -> None:
    """One executor thread, busy: three requests for the same key while it waits make one run;
    a request once that run has begun makes another (it may have read too early)."""
    release = threading.Event()
    runs: list[str] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(1))
        busy = asyncio.Event()

        def occupy() -> None:
            loop.call_soon_threadsafe(busy.set)
            assert release.wait(10)

        handoff = Handoff()
        assert handoff.submit("other", occupy)
        await asyncio.wait_for(busy.wait(), 10)
        submitted = [handoff.submit("iris", runs.append, "iris") for _ in range(3)]
        assert submitted == [True, False, False]
        release.set()
        assert await handoff.wait(10)
        assert runs == ["iris"]
        assert handoff.submit("iris", runs.append, "iris")  # after the run: a new one
        assert await handoff.wait(10)

    asyncio.run(scenario())
    assert runs == ["iris", "iris"]


def test_a_failed_run_is_logged_and_frees_its_key(caplog: pytest.LogCaptureFixture) -> None:
    def fail() -> None:
        raise RuntimeError("the API server went away")

    async def scenario() -> list[bool]:
        handoff = Handoff()
        first = handoff.submit("iris", fail)
        assert await handoff.wait(10)
        second = handoff.submit("iris", fail)
        assert await handoff.wait(10)
        return [first, second]

    with caplog.at_level(logging.ERROR, logger="modelship.handoff"):
        assert asyncio.run(scenario()) == [True, True]
    assert [r.exc_info[1].args for r in caplog.records if r.exc_info] == [
        ("the API server went away",)
    ] * 2


def test_wait_gives_up_at_its_timeout() -> None:
    release = threading.Event()

    async def scenario() -> tuple[bool, int]:
        handoff = Handoff()
        handoff.submit("iris", release.wait, 10)
        late = await handoff.wait(0.2)
        pending = handoff.pending()
        release.set()
        assert await handoff.wait(10)
        return late, pending

    assert asyncio.run(scenario()) == (False, 1)


def test_runs_get_their_arguments() -> None:
    seen: list[Any] = []

    async def scenario() -> None:
        handoff = Handoff()
        handoff.submit(("deployment", "ml", "a"), lambda *args: seen.append(args), "ml", "a")
        await handoff.wait(10)

    asyncio.run(scenario())
    assert seen == [("ml", "a")]
