"""When each object asked to be reconciled again: the delays decisions return, kept until due.

Kopf fixes a timer's interval when the module is imported, so a decision's delay cannot become
an interval. Instead every reconcile records its `requeue_after` here, and the clock that owns
these objects (`deployment/clock.py`) sleeps until the soonest. A reconcile driven by an event
may ask for an earlier time than the clock is sleeping towards; `request` then tells its
listener (from any thread), so nothing is polled.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Hashable

# A reconcile that raised is tried again after this long, not on every tick.
RETRY_AFTER_ERROR_SECONDS = 5.0

Listener = Callable[[Hashable], None]
# How far a settled object's look is spread around its interval, by key.
SPREAD = 0.1


def spread(key: Hashable, seconds: float) -> float:
    """`seconds`, moved by up to ±10 % by a stable hash of `key`: objects that settled together
    (after a restart, a rollout of many) do not all look again in the same second."""
    share = zlib.crc32(repr(key).encode()) / 0xFFFFFFFF
    return seconds * (1 - SPREAD + 2 * SPREAD * share)


class Requeues:
    """Due times per object key; safe to use from Kopf's handler threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due: dict[Hashable, float] = {}
        self._listener: Listener | None = None
        self._lock = threading.Lock()

    def listen(self, listener: Listener) -> None:
        """Call `listener(key)` whenever `key`'s time may have moved."""
        self._listener = listener

    def request(self, key: Hashable, delay: float | None) -> None:
        """Look at `key` again in `delay` seconds; None: not until an event says so."""
        with self._lock:
            if delay is None:
                self._due.pop(key, None)
            else:
                self._due[key] = self._clock() + delay
        self.wake(key)

    def wake(self, key: Hashable) -> None:
        """Let the clock plan `key` again now, without changing when it is due."""
        if self._listener is not None:
            self._listener(key)

    def when(self, key: Hashable) -> float | None:
        """When `key` is due, on the clock's scale; None when nothing was asked for."""
        with self._lock:
            return self._due.get(key)

    def seconds_until(self, key: Hashable) -> float | None:
        """How long until `key` is due (0 when it is), None when nothing was asked for."""
        when = self.when(key)
        return None if when is None else max(0.0, when - self._clock())

    def due(self, key: Hashable) -> bool:
        when = self.when(key)
        return when is not None and when <= self._clock()

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._due.pop(key, None)
        self.wake(key)
