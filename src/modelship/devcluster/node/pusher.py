"""Pushes a pod's status to the API server whenever something a user would see changed.

Bursts are coalesced (a container start changes three things at once), and a status equal to the
last one pushed -- condition timestamps aside -- is not written again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from modelship.devcluster.kubeapi import ApiError
from modelship.devcluster.node.client import AsyncKubeClient

JSON = dict[str, Any]
log = logging.getLogger(__name__)


class StatusPusher:
    def __init__(
        self, client: AsyncKubeClient, path: str, status: Callable[[], JSON],
        pushed: Callable[[JSON], None],
    ) -> None:  # fmt: skip
        self._client = client
        self._path = path  # the pod's API path; its status subresource is written
        self._status = status
        self._pushed = pushed  # told the status the API server stored
        self._dirty = asyncio.Event()
        self._last_pushed: JSON | None = None

    def changed(self) -> None:
        self._dirty.set()

    async def run(self) -> None:
        """Push on every change until the pod is gone (404)."""
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.05)  # coalesce bursts (a container start changes three things)
            self._dirty.clear()
            try:
                await self.push_once()
            except ApiError as error:
                if error.status == 404:
                    return
                log.warning("status of %s: %s", self._path, error)
                self._dirty.set()
                await asyncio.sleep(1)

    async def push_once(self) -> None:
        status = self._status()
        comparable = {k: v for k, v in status.items() if k != "conditions"}
        comparable["conditions"] = [(c["type"], c["status"]) for c in status["conditions"]]
        if comparable == self._last_pushed:
            return
        updated = await self._client.patch(f"{self._path}/status", {"status": status})
        self._pushed(updated.get("status", {}))
        self._last_pushed = comparable
