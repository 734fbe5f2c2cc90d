"""Learning the routing table and the backends' pods from the Kubernetes API, by watches.

Exactly these requests, which the router's Role must allow (and nothing else):

- `GET /api/v1/namespaces/{ns}/configmaps/{name}` (get, resourceName) for a consistent first
  read, then `GET /api/v1/namespaces/{ns}/configmaps?fieldSelector=metadata.name={name}&watch=1`
  (watch, which RBAC authorises against the resourceName through that field selector);
- `GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=
  kubernetes.io/service-name={service}` (list), then the same with `watch=1` (watch), one per
  Service the table names.

Watches rather than polling: a change reaches the router within the API's own latency and an
idle router costs the API server nothing. A watch resumes from the last resourceVersion
(bookmarks keep it fresh); 410 GoneError re-reads. A failed read keeps the last good state and
retries with capped exponential back-off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from modelship.contracts.routing import RoutingTable
from modelship.router.endpointslices import ready_endpoints
from modelship.router.state import RoutingState

log = logging.getLogger(__name__)

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
SERVICE_LABEL = "kubernetes.io/service-name"
Obj = dict[str, Any]


class ApiError(Exception):
    pass


class GoneError(ApiError):
    """The resourceVersion is too old to watch from: read again."""


@dataclass(frozen=True)
class ApiConnection:
    """Where the API server is and how to authenticate to it."""

    server: str
    ca_file: str | None = None
    token: str | None = None
    token_file: str | None = None

    @classmethod
    def in_cluster(
        cls, environ: Mapping[str, str] = os.environ, root: Path = SERVICE_ACCOUNT
    ) -> ApiConnection:
        host = environ.get("KUBERNETES_SERVICE_HOST")
        port = environ.get("KUBERNETES_SERVICE_PORT")
        if not host or not port:
            raise RuntimeError("not in a pod: KUBERNETES_SERVICE_HOST/PORT are not set")
        host = f"[{host}]" if ":" in host else host
        return cls(f"https://{host}:{port}", str(root / "ca.crt"), token_file=str(root / "token"))

    def headers(self) -> dict[str, str]:
        # Re-read on every request: projected tokens are rotated in place by the kubelet.
        token = Path(self.token_file).read_text().strip() if self.token_file else self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def client(self) -> httpx.AsyncClient:
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True
        )
        return httpx.AsyncClient(base_url=self.server, verify=verify)


class _Backoff:
    def __init__(self, maximum: float) -> None:
        self.maximum = maximum
        self.delay = 0.5

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self.maximum)

    def reset(self) -> None:
        self.delay = 0.5


class KubeSource:
    """A RoutingSource that watches the routing ConfigMap and the backends' EndpointSlices."""

    def __init__(
        self,
        connection: ApiConnection,
        namespace: str,
        config_map: str,
        *,
        watch_timeout: int = 290,
        retry_max: float = 30.0,
    ) -> None:
        self.connection = connection
        self.namespace = namespace
        self.config_map = config_map
        self.watch_timeout = watch_timeout
        self.retry_max = retry_max
        self._client: httpx.AsyncClient | None = None
        self._watchers: dict[str, asyncio.Task[None]] = {}

    async def run(self, state: RoutingState) -> None:
        async with self.connection.client() as client:
            self._client = client
            state.on_services(lambda services: self._follow(state, services))
            try:
                await self._watch_config_map(state)
            finally:
                for task in self._watchers.values():
                    task.cancel()
                await asyncio.gather(*self._watchers.values(), return_exceptions=True)

    def _follow(self, state: RoutingState, services: frozenset[str]) -> None:
        for service in set(self._watchers) - services:
            self._watchers.pop(service).cancel()
            state.forget(service)
        for service in services - set(self._watchers):
            self._watchers[service] = asyncio.create_task(self._watch_endpoints(state, service))

    async def _watch_config_map(self, state: RoutingState) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/configmaps"
        selector = {"fieldSelector": f"metadata.name={self.config_map}"}
        backoff = _Backoff(self.retry_max)
        version: str | None = None
        while True:
            try:
                if version is None:
                    found = await self._get(f"{path}/{self.config_map}")
                    self._apply_table(state, found)
                    version = found["metadata"]["resourceVersion"]
                async for kind, obj in self._watch(path, selector, version):
                    version = obj["metadata"].get("resourceVersion", version)
                    if kind in ("ADDED", "MODIFIED"):
                        self._apply_table(state, obj)
                    elif kind == "DELETED":
                        log.warning("routing ConfigMap deleted; keeping the last table")
                backoff.reset()
            except GoneError:
                version = None
            except (httpx.HTTPError, ApiError, KeyError) as error:
                log.warning("reading ConfigMap %s failed: %s", self.config_map, error)
                version = None
                await backoff.sleep()

    def _apply_table(self, state: RoutingState, config_map: Obj) -> None:
        try:
            table = RoutingTable.from_data(config_map.get("data"))
        except ValueError as error:  # pydantic's ValidationError is a ValueError too
            log.error(
                "invalid routing table in %s, keeping the last one: %s", self.config_map, error
            )
            return
        state.set_table(table)

    async def _watch_endpoints(self, state: RoutingState, service: str) -> None:
        selector = {"labelSelector": f"{SERVICE_LABEL}={service}"}
        backoff = _Backoff(self.retry_max)
        slices: dict[str, Obj] = {}
        version: str | None = None
        while True:
            try:
                path = self._endpointslices()
                if version is None:
                    listing = await self._get(path, selector)
                    slices = {s["metadata"]["name"]: s for s in listing.get("items") or []}
                    state.set_endpoints(service, ready_endpoints(slices.values()))
                    version = listing["metadata"]["resourceVersion"]
                async for kind, obj in self._watch(path, selector, version):
                    version = obj["metadata"].get("resourceVersion", version)
                    if kind in ("ADDED", "MODIFIED"):
                        slices[obj["metadata"]["name"]] = obj
                    elif kind == "DELETED":
                        slices.pop(obj["metadata"]["name"], None)
                    else:
                        continue
                    state.set_endpoints(service, ready_endpoints(slices.values()))
                backoff.reset()
            except GoneError:
                version = None
            except (httpx.HTTPError, ApiError, KeyError) as error:
                log.warning("reading EndpointSlices of %s failed: %s", service, error)
                version = None
                await backoff.sleep()

    def _endpointslices(self) -> str:
        return f"/apis/discovery.k8s.io/v1/namespaces/{self.namespace}/endpointslices"

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Obj:
        found = await self._get_optional(path, params)
        if found is None:
            raise ApiError(f"{path} not found")
        return found

    async def _get_optional(self, path: str, params: dict[str, str] | None = None) -> Obj | None:
        assert self._client is not None
        response = await self._client.get(
            path, params=params, headers=self.connection.headers(), timeout=30
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ApiError(f"GET {path}: {response.status_code} {response.text[:200]}")
        found: Obj = response.json()
        return found

    async def _watch(
        self, path: str, selector: dict[str, str], version: str
    ) -> AsyncIterator[tuple[str, Obj]]:
        """(type, object) events of one watch until the server ends it; GoneError on 410."""
        assert self._client is not None
        params = {
            **selector,
            "watch": "1",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self.watch_timeout),
        }
        timeout = httpx.Timeout(30, read=self.watch_timeout + 30)
        async with self._client.stream(
            "GET", path, params=params, headers=self.connection.headers(), timeout=timeout
        ) as response:
            if response.status_code == 410:
                raise GoneError(path)
            if response.status_code != 200:
                text = (await response.aread()).decode(errors="replace")[:200]
                raise ApiError(f"watch {path}: {response.status_code} {text}")
            async for line in response.aiter_lines():
                if not line:
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise GoneError(path)
                    raise ApiError(f"watch {path}: {obj.get('message')}")
                yield kind, obj
