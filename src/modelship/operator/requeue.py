"""When each object asked to be reconciled again: the delays decisions return, kept until due.

Kopf fixes a timer's interval when the module is imported, so a decision's delay cannot become
an interval. Instead every reconcile records its `requeue_after` here, and a small daemon per
object reconciles it only once its time has come (a check that is not due makes no API call).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

# A reconcile that raised is tried again after this long, not on every tick.
RETRY_AFTER_ERROR_SECONDS = 5.0


class Requeues:
    """Due times per object key; safe to use from Kopf's handler threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def request(self, key: Hashable, delay: float | None) -> None:
        """Look at `key` again in `delay` seconds; None: not until an event says so."""
        with self._lock:
            if delay is None:
                self._due.pop(key, None)
            else:
                self._due[key] = self._clock() + delay

    def due(self, key: Hashable) -> bool:
        with self._lock:
            when = self._due.get(key)
        return when is not None and when <= self._clock()

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._due.pop(key, None)
