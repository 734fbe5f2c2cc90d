"""One reading of an autoscaled production: its ready pods' in-flight gauges, summed.

Pods are read at their addresses, as drift and canary analysis read them (in-cluster, and on the
local cluster whose pods listen on host loopback addresses). A pod whose gauge cannot be read is
counted at the average of those that could (Knative extrapolates the same way) and named in
status; with none readable there is no reading, and the windows keep what they had.

A reading changes nothing by itself: it tells the caller whether the recommendation moved
enough for a reconcile (which decides and writes) to be worth it, so a steady load costs one
list of pods and one scrape per pod per tick, and no write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from modelship.api.v1alpha1.autoscaling import Autoscaling
from modelship.operator.deployment.autoscale import Reading, Recommendation, Windows
from modelship.operator.deployment.builders.stages import stage_selector
from modelship.operator.deployment.rollout import PodState
from modelship.operator.deployment.traffic import TrafficReader
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import PODS

Obj = dict[str, Any]


def operator_scaled(body: Obj) -> Autoscaling | None:
    """The autoscaling spec when the operator itself scales this Deployment's production now."""
    spec = body.get("spec") or {}
    raw = (spec.get("production") or {}).get("autoscaling")
    if raw is None or spec.get("suspend"):
        return None
    try:
        autoscaling = Autoscaling.model_validate(raw)
    except ValidationError:
        return None  # the reconcile reports the invalid spec
    production = (body.get("status") or {}).get("production") or {}
    serving = production.get("promotedAt") is not None
    return autoscaling if autoscaling.mode == "operator" and serving else None


def read_production(
    kube: Kube,
    reader: TrafficReader,
    windows: Windows,
    body: Obj,
    spec: Autoscaling,
    clock: Callable[[], float] = time.monotonic,
) -> Recommendation | None:
    """Read the gauges once and record the reading; None when no pod could be read."""
    meta = body["metadata"]
    namespace, name = str(meta["namespace"]), str(meta["name"])
    pods = [
        pod
        for pod in map(PodState.of, kube.list(PODS, namespace, stage_selector(name, "production")))
        if pod.ready
    ]
    key = (namespace, name)
    if not pods:
        windows.failed(key, "no ready production pod to read")
        return None
    concurrency, read, errors = reader.in_flight(pods)
    if read == 0:
        windows.failed(key, "; ".join(errors)[:500])
        return None
    total = concurrency * len(pods) / read
    error = "; ".join(errors)[:500] or None
    return windows.record(
        key, Reading(clock(), total, len(pods)), spec.target_concurrency, read, error
    )
