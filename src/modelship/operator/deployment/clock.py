"""When each Deployment next needs work that time alone brings, on one clock for all of them.

Time matters three times: a decision may ask to be looked at again (a rollout in flight, whose
pods' readiness is not always an event we see; the next live evaluation), production drift is
read every `drift_interval_seconds`, and autoscaled production's in-flight requests every
`autoscale_sample_seconds`. Each watch event of a Deployment replans it (`seen`), from the status
and spec it brings; each reconcile's requested delay replans it through `Requeues`. A suspended
or deleted Deployment has no plan, so idle objects cost a dictionary entry at most, no task, no
finalizer and no kept body (see `kube/schedule.py` for why not a Kopf daemon each). Only a
Deployment in production keeps the body its last event brought (`kept`): its drift pass starts
from it instead of reading the Deployment again. A pass whose reading matched status.drift writes
nothing (drift.py), so no event replans it: `unchanged` plans its next read an interval after
the pass, and events meanwhile do not bring it forward while the same version serves.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from modelship.api.v1alpha1.autoscaling import Autoscaling
from modelship.operator.deployment.autoscale_sampler import operator_scaled
from modelship.operator.deployment.drift import (
    drift_seconds_until,
    measures_production,
    typed_status,
)
from modelship.operator.kube.requeue import Requeues
from modelship.operator.kube.schedule import Schedule

# After a drift pass, the status it wrote reaches us with its watch event (which replans);
# until then the old `checkedAt` says "due", which must not mean "read again".
DRIFT_SETTLE_SECONDS = 1.0


@dataclass(slots=True)
class _Plan:
    drift_at: float | None = None  # when production drift is due (None: nothing in production)
    drift_pass: float = -math.inf  # when the last drift pass began
    autoscaling: Autoscaling | None = None  # while the operator scales production itself
    sampled: float = 0.0  # when in-flight requests were last read
    body: dict[str, Any] | None = None  # the last event's (or drift write's), while in production
    quiet_until: float = -math.inf  # after a pass that wrote nothing, its next read's time


@dataclass(frozen=True)
class Work:
    """What is due for one Deployment now."""

    requeue: bool = False
    drift: bool = False
    sample: Autoscaling | None = None

    def __bool__(self) -> bool:
        return self.requeue or self.drift or self.sample is not None


class DeploymentClock:
    """Every active Deployment's next due time, kept on one `Schedule`; safe across threads."""

    def __init__(
        self,
        requeues: Requeues,
        drift_interval: float,
        sample_every: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.requeues = requeues
        self._drift_interval = drift_interval
        self._sample_every = sample_every
        self._clock = clock
        self._plans: dict[Hashable, _Plan] = {}
        self._lock = threading.Lock()
        self.schedule = Schedule(self._next_time, clock)
        requeues.listen(self.schedule.touch)

    def seen(self, key: Hashable, body: Mapping[str, Any], deleted: bool = False) -> bool:
        """Plan `key` from a watch event's body. True when the operator stopped scaling its
        production (its old readings must not count should it scale again)."""
        spec, meta = body.get("spec") or {}, body.get("metadata") or {}
        if deleted or spec.get("suspend") or meta.get("deletionTimestamp"):
            with self._lock:
                plan = self._plans.pop(key, None)
            self.schedule.forget(key)
            return plan is not None and plan.autoscaling is not None
        now = self._clock()
        status = typed_status(body.get("status"))
        drift = drift_seconds_until(status, self._drift_interval)
        scaled = operator_scaled(dict(body))
        with self._lock:
            plan = self._plans.get(key)
            if plan is None:
                plan = self._plans[key] = _Plan(sampled=now)
            drift_at = None if drift is None else now + drift
            if drift_at is not None:
                drift_at = max(drift_at, plan.drift_pass + DRIFT_SETTLE_SECONDS)
                if measures_production(status):  # not a new version: it waits its interval
                    drift_at = max(drift_at, plan.quiet_until)
            plan.drift_at = drift_at
            plan.body = None if drift_at is None else dict(body)
            stopped_scaling = plan.autoscaling is not None and scaled is None
            plan.autoscaling = scaled
        self.schedule.touch(key)
        return stopped_scaling

    def take(self, key: Hashable) -> Work:
        """What is due for `key` now; a drift read or a sample taken counts as begun."""
        now = self._clock()
        requeue = self.requeues.due(key)
        with self._lock:
            plan = self._plans.get(key)
            if plan is None:  # suspended or deleted since it came due
                return Work()
            drift = plan.drift_at is not None and plan.drift_at <= now
            if drift:
                plan.drift_pass = now
                plan.drift_at = now + DRIFT_SETTLE_SECONDS
            sample = None
            if plan.autoscaling is not None and plan.sampled + self._sample_every <= now:
                sample, plan.sampled = plan.autoscaling, now
        return Work(requeue, drift, sample)

    def kept(self, key: Hashable) -> dict[str, Any] | None:
        """The Deployment as its last event (or drift write) had it, while it is in production."""
        with self._lock:
            plan = self._plans.get(key)
            return None if plan is None else plan.body

    def wrote(self, key: Hashable, body: Mapping[str, Any]) -> None:
        """Keep what a drift write returned until its event arrives (no replanning: the event
        brings the new `checkedAt`)."""
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                plan.quiet_until = -math.inf  # the write's event brings the next time
                if plan.body is not None:
                    plan.body = dict(body)

    def unchanged(self, key: Hashable) -> None:
        """The pass that began last read what status.drift records and wrote nothing: no event
        will replan it, so its next read is an interval after that pass."""
        with self._lock:
            plan = self._plans.get(key)
            if plan is None or plan.drift_at is None:
                return
            plan.quiet_until = plan.drift_pass + self._drift_interval
            plan.drift_at = max(plan.drift_at, plan.quiet_until)
        self.schedule.touch(key)

    def planned(self) -> int:
        with self._lock:
            return len(self._plans)

    def _next_time(self, key: Hashable) -> float | None:
        with self._lock:
            plan = self._plans.get(key)
            if plan is None:
                return None
            times = [plan.drift_at]
            if plan.autoscaling is not None:
                times.append(plan.sampled + self._sample_every)
        times.append(self.requeues.when(key))
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None
