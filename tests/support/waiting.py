"""Wait for a condition instead of sleeping a guessed amount of time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None],
    timeout: float = 60.0,
    interval: float = 0.5,
    what: str = "condition",
    describe: Callable[[], str] | None = None,
) -> T:
    """Call `probe` until it returns something truthy; fail with `describe()` on timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    detail = describe() if describe else repr(last)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {detail}")
