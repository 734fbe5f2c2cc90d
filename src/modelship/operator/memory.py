"""Giving back to the system the memory a burst of work left free.

While thousands of objects settle or resume, every handler thread decodes API answers of tens of
kilobytes. Those land in glibc's malloc, which gives each thread that contends for memory an
arena of its own (up to eight per core) and returns freed pages to the system only from the top
of the main heap. The burst's memory is then free inside the process but still counted in its
RSS: 909 MB at rest after 3,000 Models and Deployments settled, where a fresh operator over the
same objects holds 263 MB (bench/operator_scale.py). So the operator limits malloc to a few
arenas before any thread starts, and now and then asks malloc to return every free page
(`malloc_trim`, which since glibc 2.8 releases free pages inside all arenas, not only the top).

Elsewhere (musl, macOS) both are skipped: nothing is lost but the RSS.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
from typing import Any

import kopf

# mallopt's parameter for the most arenas malloc may create (malloc.h).
M_ARENA_MAX = -8
# Arenas allowed: the handler threads mostly wait on the API server holding no lock, and the
# allocations that matter happen under the GIL anyway, so more arenas buy no concurrency.
MALLOC_ARENAS = 2
# How often free memory is handed back. A trim with little to return costs well under a
# millisecond; after a burst it returns hundreds of megabytes in a few milliseconds.
RELEASE_SECONDS = 30.0


@functools.cache  # loaded once: the trim runs every 30 s
def _glibc() -> Any | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt")):
        return None
    return libc


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap malloc's arenas; call before threads start. False where there is no glibc."""
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """Return malloc's free pages to the system. True when some were returned."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


async def release_periodically(seconds: float = RELEASE_SECONDS) -> None:
    """Trim every `seconds` until cancelled (in a thread: it holds malloc's locks meanwhile,
    not the GIL, so it must not hold the event loop)."""
    if _glibc() is None:
        return
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(release_free_memory)


@kopf.on.startup()
async def start_releasing_memory(memo: kopf.Memo, **_: Any) -> None:
    memo.memory_releaser = asyncio.create_task(release_periodically())


@kopf.on.cleanup()
async def stop_releasing_memory(memo: kopf.Memo, **_: Any) -> None:
    task: asyncio.Task[None] | None = memo.get("memory_releaser")
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
