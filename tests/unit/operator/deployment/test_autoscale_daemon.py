"""The Deployments' clock reads autoscaled production on its tick and reconciles on a change."""

from __future__ import annotations

import asyncio
import copy
import time
from functools import partial
from typing import Any

import kopf

from modelship.operator import deployment_handlers as handlers
from modelship.operator.deployment.autoscale import Windows
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, PODS
from support.autoscaling import Gauges, production_pod
from support.deployments import SETTINGS, body, cluster
from support.handler_memo import handler_memo

SERVING = {"production": {"version": 1, "promotedAt": "2025-03-01T12:00:00Z"}}


def pod_lists(kube: Any) -> int:
    return sum(1 for c in kube.calls if c.verb == "list" and c.resource == "pods")


async def running_clock(memo: kopf.Memo, body: dict[str, Any]) -> tuple[Any, asyncio.Event]:
    stopped = asyncio.Event()
    clock = memo.deployment_clock
    task = asyncio.create_task(clock.schedule.run(partial(handlers.clock_pass, memo), stopped))
    await handlers.deployment_seen(body=body, memo=memo, type="ADDED")
    return task, stopped


async def test_readings_feed_the_windows_and_a_moved_recommendation_reconciles(
    monkeypatch: Any,
) -> None:
    kube = cluster()
    scaled = body(SERVING, production={"replicas": 1, "autoscaling": {"maxReplicas": 4}})
    kube.put(MODEL_DEPLOYMENTS, scaled)
    kube.put(PODS, production_pod("a"))
    gauges = Gauges({"a": 3.0})
    settings = SETTINGS.model_copy(
        update={"autoscale_sample_seconds": 0.05, "drift_interval_seconds": 3600}
    )
    memo = handler_memo(
        kube, time.monotonic, settings, traffic_reader=gauges, autoscale_windows=Windows(10, 2)
    )
    monkeypatch.setattr(handlers, "_drift", lambda *_: None)  # drift: elsewhere
    reconciled: list[Windows | None] = []
    monkeypatch.setattr(
        handlers,
        "reconcile_deployment",
        lambda *args: reconciled.append(args[5]) or None,  # the windows it was given
    )
    task, stopped = await running_clock(memo, scaled)
    await asyncio.sleep(0.5)
    latest = memo.autoscale_windows.latest(("ml", "iris"))
    assert latest is not None and latest.samples >= 5 and latest.stable_concurrency == 3
    assert reconciled == [memo.autoscale_windows]  # once: the recommendation stayed the same
    gauges.values["a"] = 30.0  # a burst
    await asyncio.sleep(0.3)
    assert len(reconciled) == 2  # it moved: reconciled again, with the windows
    unscaled = copy.deepcopy(scaled)
    del unscaled["spec"]["production"]["autoscaling"]  # the event of the edit
    await handlers.deployment_seen(body=unscaled, memo=memo, type="MODIFIED")
    assert memo.autoscale_windows.latest(("ml", "iris")) is None  # old readings forgotten
    samples = pod_lists(kube)
    await asyncio.sleep(0.2)
    assert pod_lists(kube) == samples  # and no more are taken
    stopped.set()
    await asyncio.wait_for(task, timeout=1)


async def test_production_not_autoscaled_is_never_read(monkeypatch: Any) -> None:
    kube = cluster()
    fixed = body(SERVING)
    kube.put(MODEL_DEPLOYMENTS, fixed)
    settings = SETTINGS.model_copy(
        update={"autoscale_sample_seconds": 0.05, "drift_interval_seconds": 3600}
    )
    memo = handler_memo(
        kube,
        time.monotonic,
        settings,
        traffic_reader=Gauges({}),
        autoscale_windows=Windows(10, 2),
        drift_reader=None,
    )
    monkeypatch.setattr(handlers, "_drift", lambda *_: None)
    task, stopped = await running_clock(memo, fixed)
    await asyncio.sleep(0.3)
    assert kube.calls == [] and memo.autoscale_windows.latest(("ml", "iris")) is None
    stopped.set()
    await asyncio.wait_for(task, timeout=1)
