"""When each object asked to be reconciled again: the delays decisions return, kept until due.

Kopf fixes a timer's interval when the module is imported, so a decision's delay cannot become
an interval. Instead every reconcile records its `requeue_after` here, and a small daemon per
object sleeps until that time. A reconcile driven by an event may ask for an earlier time than
the daemon is sleeping towards; `request` then wakes it (from any thread), so nothing is polled.
"""

from __future__ import annotations

import asyncio
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
        self._wakers: dict[Hashable, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._lock = threading.Lock()

    def request(self, key: Hashable, delay: float | None) -> None:
        """Look at `key` again in `delay` seconds; None: not until an event says so."""
        with self._lock:
            if delay is None:
                self._due.pop(key, None)
            else:
                self._due[key] = self._clock() + delay
        self.wake(key)

    def wake(self, key: Hashable) -> None:
        """Let `key`'s daemon look again now, without changing when it is due.

        For a change the daemon cannot see coming: Kopf updates the daemon's body when the
        watch delivers an event, which is after the write that caused it returned.
        """
        with self._lock:
            waker = self._wakers.get(key)
        if waker is not None:
            loop, event = waker
            loop.call_soon_threadsafe(event.set)

    def waker(self, key: Hashable) -> asyncio.Event:
        """The event `request(key, ...)` sets; made for the running loop (the key's daemon)."""
        event = asyncio.Event()
        with self._lock:
            self._wakers[key] = (asyncio.get_running_loop(), event)
        return event

    def seconds_until(self, key: Hashable) -> float | None:
        """How long until `key` is due (0 when it is), None when nothing was asked for."""
        with self._lock:
            when = self._due.get(key)
        return None if when is None else max(0.0, when - self._clock())

    def due(self, key: Hashable) -> bool:
        with self._lock:
            when = self._due.get(key)
        return when is not None and when <= self._clock()

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._due.pop(key, None)
            self._wakers.pop(key, None)
