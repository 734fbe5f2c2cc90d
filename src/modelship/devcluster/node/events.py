"""Events about pods, so `kubectl describe pod` tells the story as it would on a cluster.

Events are best effort: they are posted in the background, and failing to post one never
affects the pod. A repeated identical event is sent once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from modelship.devcluster.node.client import AsyncKubeClient
from modelship.devcluster.node.context import now


class EventRecorder:
    def __init__(self, client: AsyncKubeClient, node_name: str) -> None:
        self._client = client
        self._node = node_name
        self._sent: set[tuple[str, str, str]] = set()
        self._pending: set[asyncio.Task[None]] = set()

    def pod_event(
        self, pod: Mapping[str, Any], reason: str, message: str, warning: bool = False
    ) -> None:
        meta = pod["metadata"]
        key = (str(meta["uid"]), reason, message)
        if key in self._sent:
            return
        self._sent.add(key)
        stamp = now()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                               "namespace": meta["namespace"], "uid": meta["uid"]},
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": "modelship-local-node", "host": self._node},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }  # fmt: skip
        task = asyncio.create_task(self._post(meta["namespace"], event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def forget(self, uid: str) -> None:
        self._sent = {key for key in self._sent if key[0] != uid}

    async def _post(self, namespace: str, event: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await self._client.post(f"/api/v1/namespaces/{namespace}/events", event)
