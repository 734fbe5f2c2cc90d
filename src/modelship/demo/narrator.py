"""Print each stage of the loop once, as the cluster reaches it.

The narrator watches objects' status and prints a line when something new is observed, so the
output tells the story (trained, tested, awaiting approval, serving) without repeating itself.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


class DemoError(RuntimeError):
    """A stage did not happen in time; the message says which and what the cluster showed."""


class Narrator:
    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.seen: set[str] = set()
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:6.1f}s] {message}", file=self.out, flush=True)

    def once(self, key: str, message: str) -> None:
        if key not in self.seen:
            self.seen.add(key)
            self.say(message)

    def step(self, title: str) -> None:
        print(f"\n==> {title}", file=self.out, flush=True)

    def wait(
        self,
        what: str,
        probe: Callable[[], Any],
        timeout: float,
        narrate: Callable[[], None] | None = None,
        interval: float = 0.5,
    ) -> Any:
        """Poll until `probe` returns something truthy, narrating progress meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if narrate is not None:
                narrate()
            result = probe()
            if result:
                return result
            time.sleep(interval)
        raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")
