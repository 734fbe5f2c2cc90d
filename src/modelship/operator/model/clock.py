"""When each Model whose retraining runs on time (a schedule, a dataset to check) looks again.

Everything else reaches a Model as an event (its spec, its TrainingJobs, the drift its
Deployments record), so only these Models are planned: a minute after the last look (a minute
is a cron schedule's resolution; dataset checks keep their own interval inside), the first half
a minute after the Model is first seen. One `Schedule` for all of them rather than a Kopf timer
each: a timer makes Kopf keep every Model's body in memory, planned or not (kube/schedule.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from modelship.operator.kube.schedule import Schedule

INTERVAL_SECONDS = 60.0
FIRST_LOOK_SECONDS = 30.0


def clock_driven(spec: Mapping[str, Any]) -> bool:
    """Whether time alone can make this Model train: a schedule, or a dataset to check."""
    retraining = spec.get("retraining") or {}
    return not spec.get("suspend") and bool(
        retraining.get("schedule") or retraining.get("onDatasetChange")
    )


class ModelClock:
    """The next look of every clock-driven Model; safe across threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next: dict[Hashable, float] = {}
        self._lock = threading.Lock()
        self.schedule = Schedule(self._next_time, clock)

    def seen(self, key: Hashable, body: Mapping[str, Any], deleted: bool = False) -> None:
        """Plan `key` from a watch event: a first look soon if it became clock-driven; none
        once it is not (suspended, no schedule or dataset check, deleted)."""
        meta = body.get("metadata") or {}
        driven = not deleted and not meta.get("deletionTimestamp")
        driven = driven and clock_driven(body.get("spec") or {})
        with self._lock:
            if not driven:
                self._next.pop(key, None)
            elif key not in self._next:
                self._next[key] = self._clock() + FIRST_LOOK_SECONDS
            else:
                return  # planned already: events do not postpone the next look
        self.schedule.touch(key)

    def take(self, key: Hashable) -> bool:
        """Whether `key` is due now; a look taken plans the next one an interval on."""
        now = self._clock()
        with self._lock:
            when = self._next.get(key)
            if when is None or when > now:
                return False
            self._next[key] = now + INTERVAL_SECONDS
            return True

    def planned(self) -> int:
        with self._lock:
            return len(self._next)

    def _next_time(self, key: Hashable) -> float | None:
        with self._lock:
            return self._next.get(key)
