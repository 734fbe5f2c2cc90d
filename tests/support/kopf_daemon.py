"""Kopf's side of an async daemon, as the operator's daemons see it (no Kopf running)."""

from __future__ import annotations

import asyncio


class Stopped:
    """Kopf's `stopped` as an async daemon sees it: falsy until set, and awaitable `wait()`."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def wait(self) -> bool:
        await self.event.wait()
        return True

    def __bool__(self) -> bool:
        return self.event.is_set()
