"""One clock for many objects: each key's next due time, and one task that runs what is due.

Kopf's daemons and timers cost per object an asyncio task, a finalizer written to the object and,
for every object of a kind that has any (even one its `when` filter excludes), the latest body
kept in memory: ~13 KB per object, measured with tracemalloc at 2,000 idle objects, most of the
operator's memory at 10,000 (issue 30). A `Schedule` keeps a float per key and a heap, and one
task sleeps until the soonest time, or until a key's time moves (`touch`, from any thread).

The owner says what a key's next time is (`next_time`); the schedule only keeps the heap honest:
a key appears once at its current time (older entries are skipped when they surface), a key whose
work is running is not started again, and its time is asked anew when that work ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger("modelship.schedule")

NextTime = Callable[[Hashable], float | None]
Worker = Callable[[Hashable], Awaitable[None]]


class Schedule:
    """Due times per key (from `next_time`, on the `clock`'s scale); safe across threads."""

    def __init__(self, next_time: NextTime, clock: Callable[[], float] = time.monotonic) -> None:
        self._next_time = next_time
        self._clock = clock
        self._heap: list[tuple[float, int, Hashable]] = []
        self._scheduled: dict[Hashable, float] = {}
        self._running: set[Hashable] = set()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._wakeup: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    def touch(self, key: Hashable) -> None:
        """`key`'s next time may have moved: ask for it again, and wake the runner."""
        with self._lock:
            self._plan(key)
            wakeup = self._wakeup
        self._wake(wakeup)

    @staticmethod
    def _wake(wakeup: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None) -> None:
        """Wake the runner. On its own loop (a watch event's handler) the event is set at once;
        from another thread through the loop's self-pipe, a write per call: on the loop itself
        a burst of 20,000 events filled that pipe faster than the busy loop read it."""
        if wakeup is None:
            return
        loop, event = wakeup
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            event.set()
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: the operator is stopping
            loop.call_soon_threadsafe(event.set)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._scheduled.pop(key, None)

    def scheduled(self, key: Hashable) -> float | None:
        """When `key` is due next, as planned (None: nothing planned)."""
        with self._lock:
            return self._scheduled.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._scheduled)

    def _plan(self, key: Hashable) -> None:
        """Under the lock: put `key` on the heap at its current next time, once."""
        when = self._next_time(key)
        if when is None:
            self._scheduled.pop(key, None)
        elif self._scheduled.get(key) != when:
            self._scheduled[key] = when
            heapq.heappush(self._heap, (when, next(self._order), key))

    def take_due(self) -> list[Hashable]:
        """The keys due now that are not running; they count as running until `done`."""
        now, due = self._clock(), []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                when, _, key = heapq.heappop(self._heap)
                if self._scheduled.get(key) != when:
                    continue  # superseded by a later plan, or forgotten
                del self._scheduled[key]
                if key not in self._running:
                    self._running.add(key)
                    due.append(key)
        return due

    def done(self, key: Hashable) -> None:
        """`key`'s work ended: plan it again (the runner may be asleep towards a later time)."""
        with self._lock:
            self._running.discard(key)
            self._plan(key)
            wakeup = self._wakeup
        self._wake(wakeup)

    def seconds_until_next(self) -> float | None:
        with self._lock:
            while self._heap and self._scheduled.get(self._heap[0][2]) != self._heap[0][0]:
                heapq.heappop(self._heap)  # drop superseded entries from the top
            return max(0.0, self._heap[0][0] - self._clock()) if self._heap else None

    async def run(self, worker: Worker, stopped: asyncio.Event, idle: float = 3600.0) -> None:
        """Run `worker(key)` for each key when due, concurrently, until `stopped` is set; then
        wait for the work already started."""
        event = asyncio.Event()
        with self._lock:
            self._wakeup = (asyncio.get_running_loop(), event)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not stopped.is_set():
                event.clear()  # first: a touch from now on wakes the wait below
                for key in self.take_due():
                    task = asyncio.create_task(self._one(worker, key))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                pause = self.seconds_until_next()
                if pause == 0.0:
                    continue  # came due while we looked
                stop = asyncio.ensure_future(stopped.wait())
                wake = asyncio.ensure_future(event.wait())
                try:
                    await asyncio.wait(
                        {stop, wake},
                        timeout=idle if pause is None else pause,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    stop.cancel()
                    wake.cancel()
        finally:
            with self._lock:
                self._wakeup = None
            if tasks:
                await asyncio.wait(tasks)

    async def _one(self, worker: Worker, key: Hashable) -> None:
        try:
            await worker(key)
        except Exception:  # the worker reports its own failures; this keeps the clock alive
            log.exception("scheduled work for %s failed", key)
        finally:
            self.done(key)
