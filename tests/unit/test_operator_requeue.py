"""Requeue times: a reconcile's `requeue_after` is kept until due, and only then acted on."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import kopf

from modelship.operator import events, handlers
from modelship.operator.deployment.decide import IN_FLIGHT_SECONDS
from modelship.operator.requeue import Requeues
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
    handlers.deployment_requeue(meta={"namespace": "ml", "name": "iris"}, memo=memo)
    assert kube.calls == []  # not due yet: the tick costs no API call
    clock.now += 0.5
    handlers.deployment_requeue(meta={"namespace": "ml", "name": "iris"}, memo=memo)
    assert kube.calls  # due: reconciled
