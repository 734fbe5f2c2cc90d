"""The Deployment daemon reads autoscaled production on its tick and reconciles on a change."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from typing import Any

import kopf
from prometheus_client import CollectorRegistry

from modelship.operator import deployment_handlers as handlers
from modelship.operator.deployment.autoscale import Windows
from modelship.operator.kube.requeue import Requeues
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, PODS
from modelship.operator.metrics import OperatorMetrics
from support.autoscaling import Gauges, production_pod
from support.deployments import SETTINGS, body, cluster
from support.kopf_daemon import Stopped

SERVING = {"production": {"version": 1, "promotedAt": "2025-03-01T12:00:00Z"}}


async def test_readings_feed_the_windows_and_a_moved_recommendation_reconciles(
    monkeypatch: Any,
) -> None:
    kube = cluster()
    scaled = body(SERVING, production={"replicas": 1, "autoscaling": {"maxReplicas": 4}})
    kube.put(MODEL_DEPLOYMENTS, scaled)
    kube.put(PODS, production_pod("a"))
    gauges = Gauges({"a": 3.0})
    memo = kopf.Memo(
        kube=kube,
        settings=SETTINGS.model_copy(update={"autoscale_sample_seconds": 0.05}),
        locks=defaultdict(threading.Lock),
        deployment_requeues=Requeues(time.monotonic),
        metrics=OperatorMetrics(CollectorRegistry(), lambda: True),
        traffic_reader=gauges,
        autoscale_windows=Windows(10, 2),
    )
    monkeypatch.setattr(handlers, "drift_seconds_until", lambda *_: None)  # drift: elsewhere
    reconciled: list[Windows | None] = []
    monkeypatch.setattr(
        handlers,
        "reconcile_deployment",
        lambda *args: reconciled.append(args[-1]) or None,
    )
    stopped = Stopped()
    daemon = asyncio.create_task(
        handlers.deployment_clock(
            meta={"namespace": "ml", "name": "iris"},
            body=scaled,
            memo=memo,
            logger=logging.getLogger("t"),
            stopped=stopped,
        )
    )
    await asyncio.sleep(0.5)
    latest = memo.autoscale_windows.latest(("ml", "iris"))
    assert latest is not None and latest.samples >= 5 and latest.stable_concurrency == 3
    assert reconciled == [memo.autoscale_windows]  # once: the recommendation stayed the same
    gauges.values["a"] = 30.0  # a burst
    await asyncio.sleep(0.3)
    assert len(reconciled) == 2  # it moved: reconciled again, with the windows
    del scaled["spec"]["production"]["autoscaling"]  # as Kopf updates the daemon's body
    await asyncio.sleep(0.2)
    assert memo.autoscale_windows.latest(("ml", "iris")) is None  # old readings forgotten
    stopped.event.set()
    await asyncio.wait_for(daemon, timeout=1)


async def test_production_not_autoscaled_is_never_read(monkeypatch: Any) -> None:
    kube = cluster()
    fixed = body(SERVING)
    kube.put(MODEL_DEPLOYMENTS, fixed)
    memo = kopf.Memo(
        kube=kube,
        settings=SETTINGS.model_copy(update={"autoscale_sample_seconds": 0.05}),
        locks=defaultdict(threading.Lock),
        deployment_requeues=Requeues(time.monotonic),
        metrics=OperatorMetrics(CollectorRegistry(), lambda: True),
        traffic_reader=Gauges({}),
        autoscale_windows=Windows(10, 2),
        drift_reader=None,
    )
    monkeypatch.setattr(handlers, "drift_seconds_until", lambda *_: None)
    stopped = Stopped()
    daemon = asyncio.create_task(
        handlers.deployment_clock(
            meta={"namespace": "ml", "name": "iris"},
            body=fixed,
            memo=memo,
            logger=logging.getLogger("t"),
            stopped=stopped,
        )
    )
    await asyncio.sleep(0.3)
    assert kube.calls == [] and memo.autoscale_windows.latest(("ml", "iris")) is None
    stopped.event.set()
    await asyncio.wait_for(daemon, timeout=1)
