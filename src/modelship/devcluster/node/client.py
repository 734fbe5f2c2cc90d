"""The node agent's asynchronous API client (JSON dicts over httpx).

The agent is one asyncio program: pod workers, probes and the node heartbeat share one
connection pool. Watches are used only as a wake-up signal; the agent always acts on fresh lists.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping

import httpx

from modelship.devcluster.kubeapi import JSON, MERGE_PATCH, ApiEndpoint, ApiError, raise_for_status


class AsyncKubeClient:
    def __init__(self, endpoint: ApiEndpoint, timeout: float = 15.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=endpoint.server,
            verify=endpoint.ssl_context(),
            headers=endpoint.headers(),
            timeout=timeout,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> JSON:
        response = await self._http.get(path, params=params)
        raise_for_status(response)
        return dict(response.json())

    async def get_or_none(self, path: str) -> JSON | None:
        try:
            return await self.get(path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def post(self, path: str, body: JSON) -> JSON:
        response = await self._http.post(path, json=body)
        raise_for_status(response)
        return dict(response.json())

    async def patch(self, path: str, body: JSON) -> JSON:
        response = await self._http.patch(
            path, content=json.dumps(body), headers={"Content-Type": MERGE_PATCH}
        )
        raise_for_status(response)
        return dict(response.json())

    async def delete(self, path: str, body: JSON | None = None) -> None:
        response = await self._http.request("DELETE", path, json=body)
        if response.status_code not in (404, 409):
            raise_for_status(response)

    async def watch_lines(self, path: str) -> AsyncIterator[str]:
        """Raw event lines of a watch; ends when the server closes it."""
        params = {"watch": "1", "timeoutSeconds": "300", "allowWatchBookmarks": "false"}
        timeout = httpx.Timeout(15.0, read=330.0)
        async with self._http.stream("GET", path, params=params, timeout=timeout) as response:
            raise_for_status(response)
            async for line in response.aiter_lines():
                if line:
                    yield line
