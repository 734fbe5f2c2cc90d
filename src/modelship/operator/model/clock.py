"""When each Model that time alone can move looks again: a schedule, a dataset to check, or an
automatic training held back until a cooldown or daily cap allows it.

Everything else reaches a Model as an event (its spec, its TrainingJobs, the drift its
Deployments record), so only these Models are planned. A clock-driven Model looks a minute after
its last look (a minute is a cron schedule's resolution; dataset checks keep their own interval
inside), the first half a minute after it is first seen. A deferred Model (status.retraining
says Deferred, eligible at `nextEligibleAt`) looks once, just after that time: the reading that
asked for the training is not written again while it stays the same (deployment/drift.py), so
no event would bring the Model back. One `Schedule` for all of them rather than a Kopf timer
each: a timer makes Kopf keep every Model's body in memory, planned or not (kube/schedule.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime
from typing import Any

from modelship.api.v1alpha1.base import parse_rfc3339
from modelship.operator.kube.schedule import Schedule

INTERVAL_SECONDS = 60.0
FIRST_LOOK_SECONDS = 30.0
# A deferred Model looks this long after it becomes eligible, so the guardrails, judging by the
# wall clock, find the cooldown over.
ELIGIBLE_MARGIN_SECONDS = 1.0


def clock_driven(spec: Mapping[str, Any]) -> bool:
    """Whether time alone can make this Model train: a schedule, or a dataset to check."""
    retraining = spec.get("retraining") or {}
    return not spec.get("suspend") and bool(
        retraining.get("schedule") or retraining.get("onDatasetChange")
    )


def deferred_until(body: Mapping[str, Any]) -> str | None:
    """When an automatic training the Model held back becomes eligible (None: none held back)."""
    if (body.get("spec") or {}).get("suspend"):
        return None
    retraining = (body.get("status") or {}).get("retraining") or {}
    if retraining.get("decision") != "Deferred":
        return None
    at = retraining.get("nextEligibleAt")
    return str(at) if at else None


class ModelClock:
    """The next look of every Model time can move; safe across threads."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._clock, self._wall = clock, wall
        self._next: dict[Hashable, float] = {}  # clock-driven Models
        self._deferred: dict[Hashable, tuple[str, float]] = {}  # nextEligibleAt, its look
        self._lock = threading.Lock()
        self.schedule = Schedule(self._next_time, clock)

    def seen(self, key: Hashable, body: Mapping[str, Any], deleted: bool = False) -> None:
        """Plan `key` from a watch event: a first look soon if it became clock-driven, none
        once it is not (suspended, no schedule or dataset check, deleted); a look just after
        the time a held-back training becomes eligible, while status says it is held back."""
        meta = body.get("metadata") or {}
        alive = not deleted and not meta.get("deletionTimestamp")
        driven = alive and clock_driven(body.get("spec") or {})
        eligible = deferred_until(body) if alive else None
        look = None if eligible is None else self._look_at(eligible)
        with self._lock:
            moved = False
            if not driven:
                moved = self._next.pop(key, None) is not None
            elif key not in self._next:  # planned already: events do not postpone the next look
                self._next[key] = self._clock() + FIRST_LOOK_SECONDS
                moved = True
            if eligible is None or look is None:
                moved = self._deferred.pop(key, None) is not None or moved
            elif self._deferred.get(key, ("", 0.0))[0] != eligible:
                self._deferred[key] = (eligible, look)
                moved = True
        if moved:
            self.schedule.touch(key)

    def take(self, key: Hashable) -> bool:
        """Whether `key` is due now; a clock-driven look taken plans the next one an interval
        on, a deferred look is taken once (the reconcile's status brings the next, if any)."""
        now = self._clock()
        with self._lock:
            due = False
            when = self._next.get(key)
            if when is not None and when <= now:
                self._next[key] = now + INTERVAL_SECONDS
                due = True
            deferred = self._deferred.get(key)
            if deferred is not None and deferred[1] <= now:
                del self._deferred[key]
                due = True
            return due

    def planned(self) -> int:
        with self._lock:
            return len(self._next.keys() | self._deferred.keys())

    def _look_at(self, eligible: str) -> float | None:
        try:
            wait = (parse_rfc3339(eligible) - self._wall()).total_seconds()
        except ValueError:
            return None
        return self._clock() + max(0.0, wait) + ELIGIBLE_MARGIN_SECONDS

    def _next_time(self, key: Hashable) -> float | None:
        with self._lock:
            times = [self._next.get(key), self._deferred.get(key, (None, None))[1]]
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None
