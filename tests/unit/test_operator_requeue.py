"""Requeue times: a reconcile's `requeue_after` is kept until due, and only then acted on."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from typing import Any

import kopf

from modelship.operator import events, handlers
from modelship.operator.deployment.decide import IN_FLIGHT_SECONDS
from modelship.operator.requeue import RETRY_AFTER_ERROR_SECONDS, Requeues
from support.deployments import SETTINGS, cluster


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_object_is_due_once_its_delay_has_passed() -> None:
    clock = Clock()
    requeues = Requeues(clock)
    key = ("ml", "iris")
    assert not requeues.due(key)  # nothing asked for
    requeues.request(key, 3.0)
    clock.now += 2.9
    assert not requeues.due(key)
    clock.now += 0.1
    assert requeues.due(key)


def test_the_latest_request_wins_and_none_cancels() -> None:
    clock = Clock()
    requeues = Requeues(clock)
    key = ("ml", "iris")
    requeues.request(key, 30.0)
    requeues.request(key, 3.0)  # a later reconcile asked for sooner
    clock.now += 3
    assert requeues.due(key)
    requeues.request(key, None)  # only an event can help now
    clock.now += 1000
    assert not requeues.due(key)
    requeues.request(key, 0)
    requeues.forget(key)
    assert not requeues.due(key)


def test_the_handlers_honour_the_delay_the_decision_returns(monkeypatch: Any) -> None:
    """A reconcile from any handler records its `requeue_after`; the tick acts only when due."""
    kube = cluster()
    clock = Clock()
    memo = kopf.Memo(
        kube=kube,
        settings=SETTINGS,
        locks=defaultdict(threading.Lock),
        deployment_requeues=Requeues(clock),
    )
    monkeypatch.setattr(events, "normal", lambda *_: None)
    handlers.deployment_changed(meta={"namespace": "ml", "name": "iris"}, memo=memo)
    assert kube.written()  # the test stage was created: Testing, in flight
    kube.calls.clear()
    clock.now += IN_FLIGHT_SECONDS - 0.5
    assert not handlers.requeue_if_due(memo, "ml", "iris")
    assert kube.calls == []  # not due yet: the check costs no API call
    clock.now += 0.5
    assert handlers.requeue_if_due(memo, "ml", "iris")
    assert kube.calls  # due: reconciled


class Stopped:
    """Kopf's `stopped` as an async daemon sees it: `await stopped.wait(t)` is truthy once set."""

    def __init__(self) -> None:
        self.flag = False

    async def wait(self, seconds: float) -> Stopped:
        await asyncio.sleep(seconds)
        return self

    def __bool__(self) -> bool:
        return self.flag


async def test_the_daemon_reconciles_when_due_and_survives_a_failed_reconcile(
    monkeypatch: Any,
) -> None:
    kube = cluster()
    clock = Clock()
    memo = kopf.Memo(
        kube=kube,
        settings=SETTINGS,
        locks=defaultdict(threading.Lock),
        deployment_requeues=Requeues(clock),
    )
    monkeypatch.setattr(handlers, "REQUEUE_CHECK_SECONDS", 0.01)
    monkeypatch.setattr(events, "normal", lambda *_: None)
    seen: list[str] = []

    def reconcile(*_: Any) -> float:
        seen.append("reconcile")
        if len(seen) == 1:
            raise RuntimeError("API server gone")
        return 30.0

    monkeypatch.setattr(handlers, "reconcile_deployment", reconcile)
    memo.deployment_requeues.request(("ml", "iris"), 0)
    stopped = Stopped()
    daemon = asyncio.create_task(
        handlers.deployment_requeue(
            meta={"namespace": "ml", "name": "iris"},
            memo=memo,
            logger=logging.getLogger("t"),
            stopped=stopped,
        )
    )
    await asyncio.sleep(0.2)
    assert seen == ["reconcile"]  # failed; the next try waits for RETRY_AFTER_ERROR_SECONDS
    clock.now += RETRY_AFTER_ERROR_SECONDS
    await asyncio.sleep(0.2)
    assert seen == ["reconcile", "reconcile"] and not daemon.done()
    stopped.flag = True
    await asyncio.wait_for(daemon, timeout=1)  # ends by itself, not by cancellation
