"""The autoscaler's windows: what production's in-flight requests recommend, the Knative way.

Every reading is the total of the production pods' in-flight gauges at one moment. Two averages
are kept over the readings: a stable window (60 s by default) that decides in calm times, and a
panic window (6 s) that reacts to a burst. When the panic window alone asks for at least twice
the pods that are ready, the autoscaler panics: it follows the panic window and never
recommends fewer pods than it did while panicking, until a whole stable window has passed
without the burst. Outside panic, only the stable window decides, so production shrinks only
after a minute of lower load.

The readings are process state (Kopf's memo), not status: an operator that restarts starts with
empty windows and refills them; until a stable window is covered again it never recommends
scaling down.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

PANIC_THRESHOLD = 2.0
"""Panic when the panic window wants this many times the ready pods (Knative's 200 %)."""


@dataclass(frozen=True)
class Reading:
    at: float  # monotonic seconds
    concurrency: float  # total in-flight requests over the production pods
    ready_pods: int


@dataclass(frozen=True)
class Recommendation:
    """What the windows say at `at`: a replica count before bounds, holds and floors."""

    replicas: int
    panic: bool
    stable_concurrency: float
    panic_concurrency: float
    samples: int
    window_full: bool  # a whole stable window of readings: scaling down is allowed
    pods_read: int
    at: float
    error: str | None = None


@dataclass
class _Series:
    readings: deque[Reading] = field(default_factory=deque)
    since: float | None = None  # first reading of this series
    panic_since: float | None = None  # last time the panic condition held
    panic_floor: int = 0  # most pods recommended while panicking
    latest: Recommendation | None = None
    told: tuple[int, bool, bool] | None = None  # what the last reconcile was asked to act on
    told_at: float = 0.0


def average(readings: list[Reading]) -> float:
    return sum(r.concurrency for r in readings) / len(readings) if readings else 0.0


def wanted(concurrency: float, target: float) -> int:
    """Pods needed to carry `concurrency` at `target` each (0 when idle)."""
    return math.ceil(round(concurrency / target, 6))


class Windows:
    """The stable and panic windows of every autoscaled Deployment; safe across Kopf's threads."""

    def __init__(self, stable_seconds: float, panic_seconds: float) -> None:
        if not 0 < panic_seconds <= stable_seconds:
            raise ValueError("need 0 < panic window <= stable window")
        self.stable_seconds, self.panic_seconds = stable_seconds, panic_seconds
        self._series: dict[Hashable, _Series] = {}
        self._lock = threading.Lock()

    def record(
        self, key: Hashable, reading: Reading, target: float, pods_read: int, error: str | None
    ) -> Recommendation:
        """Add one reading and return (and remember) what the windows now recommend."""
        with self._lock:
            series = self._series.setdefault(key, _Series())
            if series.since is None:
                series.since = reading.at
            series.readings.append(reading)
            while series.readings and series.readings[0].at <= reading.at - self.stable_seconds:
                series.readings.popleft()
            series.latest = self._recommend(series, reading, target, pods_read, error)
            return series.latest

    def _recommend(
        self, series: _Series, now: Reading, target: float, pods_read: int, error: str | None
    ) -> Recommendation:
        stable = list(series.readings)
        burst = [r for r in stable if r.at > now.at - self.panic_seconds]
        stable_avg, panic_avg = average(stable), average(burst)
        stable_want, panic_want = wanted(stable_avg, target), wanted(panic_avg, target)
        if panic_want >= PANIC_THRESHOLD * max(1, now.ready_pods):
            if series.panic_since is None:
                series.panic_floor = 0
            series.panic_since = now.at
        elif series.panic_since is not None and now.at - series.panic_since >= self.stable_seconds:
            series.panic_since, series.panic_floor = None, 0  # a calm stable window: panic over
        panic = series.panic_since is not None
        if panic:
            replicas = max(panic_want, series.panic_floor)
            series.panic_floor = replicas
        else:
            replicas = stable_want
        assert series.since is not None
        return Recommendation(
            replicas=replicas,
            panic=panic,
            stable_concurrency=round(stable_avg, 3),
            panic_concurrency=round(panic_avg, 3),
            samples=len(stable),
            window_full=now.at - series.since >= self.stable_seconds,
            pods_read=pods_read,
            at=now.at,
            error=error,
        )

    def latest(self, key: Hashable) -> Recommendation | None:
        with self._lock:
            series = self._series.get(key)
            return None if series is None else series.latest

    def worth_reconciling(self, key: Hashable, refresh_seconds: float) -> bool:
        """Whether the recommendation changed since a reconcile last acted on it (or its figures
        in status are `refresh_seconds` old); marks it as acted on when it says yes."""
        with self._lock:
            series = self._series.get(key)
            if series is None or series.latest is None:
                return False
            latest = series.latest
            signature = (latest.replicas, latest.panic, latest.window_full)
            if signature == series.told and latest.at - series.told_at < refresh_seconds:
                return False
            series.told, series.told_at = signature, latest.at
            return True

    def failed(self, key: Hashable, error: str) -> None:
        """No pod could be read: keep the windows, but say so in the latest recommendation."""
        with self._lock:
            series = self._series.get(key)
            if series is not None and series.latest is not None:
                series.latest = _with_error(series.latest, error)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._series.pop(key, None)


def _with_error(rec: Recommendation, error: str) -> Recommendation:
    return Recommendation(
        rec.replicas, rec.panic, rec.stable_concurrency, rec.panic_concurrency, rec.samples,
        rec.window_full, 0, rec.at, error,
    )  # fmt: skip
