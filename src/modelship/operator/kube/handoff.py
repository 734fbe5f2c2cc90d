"""Work an event handler starts on a thread without making the object's events wait for it.

Kopf handles one object's events in order, each event's handlers before its change handlers, and
after its own patch it waits at most `consistency_timeout` for the event that carries it. A sync
event handler runs in the same few threads as every reconcile: while thousands of objects
settle, a Model's event handler waited minutes for a thread, by then Kopf had given up waiting,
took our status write's older event (without its annotation) for an unhandled object and ran
the Model's creation handler a second time. An async handler that hands the slow part over here
returns at once.

At most one run per key waits to start. A run reads what it needs when it starts, so a second
request while the first still waits adds nothing; a request once it has started queues one more.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Hashable
from typing import Any

log = logging.getLogger("modelship.handoff")


class Handoff:
    """Runs handed to asyncio's default executor, coalesced per key; used from the event loop."""

    def __init__(self) -> None:
        self._waiting: set[Hashable] = set()
        self._lock = threading.Lock()  # `_waiting`: the loop adds, the thread removes
        self._tasks: set[asyncio.Future[None]] = set()

    def submit(self, key: Hashable, run: Callable[..., None], *args: Any) -> bool:
        """Run `run(*args)` on a thread soon; False when a run for `key` is already waiting."""
        with self._lock:
            if key in self._waiting:
                return False
            self._waiting.add(key)
        task = asyncio.ensure_future(asyncio.to_thread(self._start, key, run, *args))
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return True

    def _start(self, key: Hashable, run: Callable[..., None], *args: Any) -> None:
        with self._lock:
            self._waiting.discard(key)
        run(*args)

    def _finished(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("a handed-off run failed", exc_info=error)

    def pending(self) -> int:
        """Runs waiting or under way."""
        return len(self._tasks)

    async def wait(self, seconds: float | None = None) -> bool:
        """Wait for the runs handed over so far (and any handed over meanwhile); False when
        some are still running after `seconds`."""
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds
        while self._tasks:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=left)
        return True
