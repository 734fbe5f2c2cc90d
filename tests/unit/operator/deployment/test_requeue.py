"""Requeue times: a reconcile's `requeue_after` is kept until due, and only then acted on."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from functools import partial
from typing import Any

import kopf
import pytest
from prometheus_client import CollectorRegistry

from modelship.operator import deployment_handlers as handlers
from modelship.operator import startup
from modelship.operator.deployment.decide import IN_FLIGHT_SECONDS, SETTLED_SECONDS
from modelship.operator.kube import events
from modelship.operator.kube.requeue import Requeues, spread
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS
from modelship.operator.metrics import OperatorMetrics
from support.deployments import SETTINGS, cluster
from support.handler_memo import Clock, handler_memo, model_event

IDLE_BODY: dict[str, Any] = {
    "metadata": {"namespace": "ml", "name": "iris"},
    "spec": {"modelRef": {"name": "iris"}},
    "status": {},
}


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


def test_a_deployment_waiting_for_a_version_is_moved_by_its_models_event_not_by_polling(
    monkeypatch: Any,
) -> None:
    """No version yet: the Deployment asks for no look before the settled safety net; the
    Model's event (a version published) reconciles it at once through the index."""
    kube = cluster()
    published = kube.objects[("modelship.io/models", "ml", "iris")]["status"]
    kube.objects[("modelship.io/models", "ml", "iris")]["status"] = {}  # still training
    clock = Clock()
    memo = handler_memo(kube, clock)
    monkeypatch.setattr(events, "normal", lambda *_: None)
    handlers.deployment_changed(
        body={}, meta={"namespace": "ml", "name": "iris"}, reason="create", memo=memo
    )
    waiting = kube.get(MODEL_DEPLOYMENTS, "ml", "iris") or {}
    assert waiting["status"]["phase"] == "Pending"
    kube.calls.clear()
    clock.now += SETTLED_SECONDS - 1
    assert not handlers.requeue_if_due(memo, "ml", "iris")
    assert kube.calls == []  # a waiting Deployment costs no API call while nothing happens

    kube.objects[("modelship.io/models", "ml", "iris")]["status"] = published
    model = kube.get(MODELS, "ml", "iris")
    memo.deployment_followers.seen(kube.get(MODEL_DEPLOYMENTS, "ml", "iris"))
    unrelated = {"metadata": {"namespace": "ml", "name": "unrelated"}}
    memo.deployment_followers.seen({**unrelated, "spec": {"modelRef": {"name": "other"}}})
    model_event(memo, model)
    moved = kube.get(MODEL_DEPLOYMENTS, "ml", "iris") or {}
    assert moved["status"]["phase"] == "Testing"
    assert moved["status"]["test"]["version"] == 1
    assert [c.name for c in kube.calls if c.verb == "get" and "deployments" in c.resource][:1] == [
        "iris"
    ]  # only the Deployments of this Model are reconciled


def test_the_handlers_honour_the_delay_the_decision_returns(monkeypatch: Any) -> None:
    """A reconcile from any handler records its `requeue_after`; the tick acts only when due."""
    kube = cluster()
    clock = Clock()
    memo = handler_memo(kube, clock)
    monkeypatch.setattr(events, "normal", lambda *_: None)
    handlers.deployment_changed(
        body={}, meta={"namespace": "ml", "name": "iris"}, reason="create", memo=memo
    )
    assert kube.written()  # the test stage was created: Testing, in flight
    phase = {"namespace": "ml", "name": "iris", "phase": "Testing"}
    assert memo.metrics.registry.get_sample_value("modelship_deployment_phase", phase) == 1
    kube.calls.clear()
    clock.now += IN_FLIGHT_SECONDS - 0.5
    assert not handlers.requeue_if_due(memo, "ml", "iris")
    assert kube.calls == []  # not due yet: the check costs no API call
    clock.now += 0.5
    assert handlers.requeue_if_due(memo, "ml", "iris")
    assert kube.calls  # due: reconciled


async def running_clock(memo: kopf.Memo) -> tuple[asyncio.Task[None], asyncio.Event]:
    stopped = asyncio.Event()
    clock = memo.deployment_clock
    task = asyncio.create_task(clock.schedule.run(partial(handlers.clock_pass, memo), stopped))
    await asyncio.sleep(0)
    return task, stopped


async def test_the_clock_sleeps_until_due_is_woken_by_an_earlier_request_and_survives_errors(
    monkeypatch: Any,
) -> None:
    kube = cluster()
    memo = handler_memo(kube, time.monotonic)
    monkeypatch.setattr(handlers, "RETRY_AFTER_ERROR_SECONDS", 0.05)
    monkeypatch.setattr(events, "normal", lambda *_: None)
    seen: list[float] = []

    def reconcile(*_: Any) -> float:
        seen.append(time.monotonic())
        if len(seen) == 1:
            raise RuntimeError("API server gone")
        return 30.0  # settled: nothing due for half a minute

    monkeypatch.setattr(handlers, "reconcile_deployment", reconcile)
    task, stopped = await running_clock(memo)
    await handlers.deployment_seen(body=IDLE_BODY, memo=memo, type="ADDED")
    memo.deployment_requeues.request(("ml", "iris"), 0)
    await asyncio.sleep(0.3)
    assert len(seen) == 2  # failed, then retried after RETRY_AFTER_ERROR_SECONDS
    errors = memo.metrics.registry.get_sample_value(
        "modelship_operator_reconcile_errors_total", {"kind": "Deployment"}
    )
    assert errors == 1
    await asyncio.sleep(0.3)
    assert len(seen) == 2  # asleep towards the 30 s it was asked for: no polling meanwhile
    # An event's reconcile (in a handler thread) asks for sooner: the clock wakes for it.
    await asyncio.to_thread(memo.deployment_requeues.request, ("ml", "iris"), 0)
    await asyncio.sleep(0.2)
    assert len(seen) == 3 and not task.done()
    stopped.set()
    await asyncio.wait_for(task, timeout=1)  # ends by itself, not by cancellation


async def test_a_suspended_or_deleted_deployment_has_no_plan_and_costs_nothing(
    monkeypatch: Any,
) -> None:
    kube = cluster()
    memo = handler_memo(kube, time.monotonic)
    monkeypatch.setattr(handlers, "reconcile_deployment", lambda *_: pytest.fail("reconciled"))
    task, stopped = await running_clock(memo)
    suspended = copy.deepcopy(IDLE_BODY)
    suspended["spec"] = {"suspend": True}
    await handlers.deployment_seen(body=suspended, memo=memo, type="ADDED")
    memo.deployment_requeues.request(("ml", "iris"), 0)
    await asyncio.sleep(0.1)
    assert memo.deployment_clock.planned() == 0 and len(memo.deployment_clock.schedule) == 0
    await handlers.deployment_seen(body=IDLE_BODY, memo=memo, type="DELETED")
    assert memo.deployment_clock.planned() == 0
    stopped.set()
    await asyncio.wait_for(task, timeout=1)


def test_a_requeue_asked_for_by_a_childs_event_reaches_the_deployments_clock(
    monkeypatch: Any,
) -> None:
    """Kopf gives each object a shallow copy of the startup memo; a reconcile that a child's
    event starts runs with the child's copy, and the delay it asks for (e.g. the shadow figures'
    refresh) must still reach the Deployments' clock, made once at startup."""
    kube = cluster()
    monkeypatch.setattr(startup, "load_api_client", lambda **_: None)
    monkeypatch.setattr(startup, "Kube", lambda _: kube)
    monkeypatch.setattr(events, "normal", lambda *_: None)
    started = kopf.Memo(metrics=OperatorMetrics(CollectorRegistry(), lambda: True))
    startup.configure(settings=kopf.OperatorSettings(), memo=started, logger=logging.getLogger("t"))
    deployment_memo, child_memo = copy.copy(started), copy.copy(started)
    assert handlers._requeues(deployment_memo).seconds_until(("ml", "iris")) is None
    child = {"metadata": {"namespace": "ml", "name": "iris-test",
                          "labels": {"modelship.io/deployment": "iris",
                                     "modelship.io/stage": "test"}}}  # fmt: skip
    handlers.stage_event(body=child, memo=child_memo)
    assert kube.written()  # reconciled: the test stage was created, in flight
    assert handlers._requeues(deployment_memo).seconds_until(("ml", "iris")) is not None
    startup.close(memo=started)


async def test_a_promotion_starts_the_drift_reads_when_its_event_arrives(
    monkeypatch: Any,
) -> None:
    """The reconcile that promotes asks for its next look as its write returns, before the
    watch brings the promoted status: the plan follows the event, so drift is read once the
    event arrives, at once, and the stale `checkedAt` after a read is not taken for "due
    again" (the read's own event replans it)."""
    kube = cluster()
    memo = handler_memo(kube, time.monotonic)
    monkeypatch.setattr(handlers, "reconcile_deployment", lambda *_: None)
    reads: list[float] = []
    monkeypatch.setattr(handlers, "_drift", lambda *_: reads.append(time.monotonic()))
    task, stopped = await running_clock(memo)
    await handlers.deployment_seen(body=IDLE_BODY, memo=memo, type="ADDED")
    await asyncio.to_thread(memo.deployment_requeues.request, ("ml", "iris"), None)
    await asyncio.sleep(0.1)
    assert reads == []  # the promotion's write returned; its event has not arrived
    promoted = copy.deepcopy(IDLE_BODY)
    promoted["status"] = {"production": {"version": 1, "promotedAt": "2025-03-01T12:00:00Z"}}
    await handlers.deployment_seen(body=promoted, memo=memo, type="MODIFIED")
    await asyncio.sleep(0.3)
    assert len(reads) == 1  # read at once; the body still says never read, yet not re-read
    stopped.set()
    await asyncio.wait_for(task, timeout=1)


def test_spread_moves_an_interval_by_at_most_a_tenth_and_the_same_way_each_time() -> None:
    looks = [spread(("ml", f"model-{i}"), 1000.0) for i in range(200)]
    assert all(900.0 <= look <= 1100.0 for look in looks)
    assert max(looks) - min(looks) > 150  # spread over the range, not bunched
    assert spread(("ml", "model-7"), 1000.0) == looks[7]  # stable: no drift from pass to pass


def test_a_settled_deployment_looks_again_after_the_setting_spread_by_deployment(
    monkeypatch: Any,
) -> None:
    kube = cluster()
    kube.objects[("modelship.io/models", "ml", "iris")]["status"] = {}  # waiting: settled
    clock = Clock()
    settings = SETTINGS.model_copy(update={"settled_resync_seconds": 100.0})
    memo = handler_memo(kube, clock, settings)
    monkeypatch.setattr(events, "normal", lambda *_: None)
    handlers.deployment_changed(
        body={}, meta={"namespace": "ml", "name": "iris"}, reason="create", memo=memo
    )
    seconds = memo.deployment_requeues.seconds_until(("ml", "iris"))
    assert seconds == spread(("ml", "iris"), 100.0) and 90.0 <= seconds <= 110.0
