"""What a container needs from its pod, and the two small helpers every part of the node uses."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from modelship.devcluster.node.plan import LaunchPlan


class PodContext(Protocol):
    """What a container needs from its pod."""

    name: str
    pod_ip: str
    pod_dir: Path
    log_dir: Path
    python: str
    backoff_base: float
    backoff_cap: float
    termination_grace: float

    async def build_plan(self, container: Mapping[str, Any], error_file: Path) -> LaunchPlan: ...

    def changed(self) -> None: ...

    def event(self, reason: str, message: str, warning: bool = False) -> None: ...


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait for event or timeout; True when the event is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()
