"""The router's requests: choose a backend, forward, answer, maybe mirror.

No framework: routing here is two prefix checks, and a framework's request objects and
middleware would cost more than the whole forwarding budget (≤100 CPU-µs); the front end
(frontend.py) frames requests and answers.

- Inference routes (`.../infer`, `/v1/models/...:predict`) go by weight, or to the version
  named by VERSION_HEADER (404 when no backend serves it).
- Every other forwarded route (health, metadata, drift) goes to stable unless pinned, so health
  checks and metadata reads do not take turns from the weighting: `/v2/health/ready` through the
  router answers stable's readiness. The router's own readiness is `/router/ready`.
- `/metrics` is the router's own registry; `/router/live` and `/router/ready` are its probes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import pydantic_core
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from modelship.contracts.routing import BACKEND_HEADER, VERSION_HEADER
from modelship.router.frontend import Reply, Request
from modelship.router.grpc_passthrough import GrpcPassthrough
from modelship.router.metrics import RouterMetrics
from modelship.router.routes import Routes
from modelship.router.settings import RouterSettings
from modelship.router.shadow import (
    ShadowJob,
    ShadowMirror,
    header_length,
    is_inference,
    shadow_target,
)
from modelship.router.state import RoutingSource, RoutingState
from modelship.router.upstream import ConnectError, NoEndpointsError, Upstream, UpstreamError

log = logging.getLogger(__name__)

_VERSION = VERSION_HEADER.encode()
_BACKEND = BACKEND_HEADER.encode()
# Hop-by-hop request headers (RFC 9110 7.6.1), and framing we redo: the body is sent whole.
_SKIP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
        b"content-length",
        b"expect",
    }
)
_JSON = [(b"content-type", b"application/json")]
_REQUEST_ID = b"x-request-id"


class RouterApp:
    """The whole router process state; `__call__` is the ASGI app."""

    def __init__(
        self,
        settings: RouterSettings,
        source: RoutingSource,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = RouterMetrics(self.registry)
        self.state = RoutingState()
        self.upstream = Upstream(
            connect_timeout=settings.connect_timeout_seconds,
            request_timeout=settings.request_timeout_seconds,
            max_idle=settings.max_idle_per_endpoint,
        )
        self.shadow = ShadowMirror(
            self.upstream,
            self.metrics,
            queue_size=settings.shadow_queue_size,
            workers=settings.shadow_workers,
            timeout=settings.shadow_timeout_seconds,
        )
        self.grpc = GrpcPassthrough(self.state, settings.connect_timeout_seconds)
        self.metrics.track_grpc(self.grpc)
        self.draining = False
        self._source_task: asyncio.Task[None] | None = None
        self.state.on_routes(self._close_unused)

    def _close_unused(self, routes: Routes) -> None:
        """Pods that left every backend keep no idle connection open in the pools."""
        backends = (routes.stable, routes.canary, routes.shadow)
        self.upstream.retain({e for b in backends if b is not None for e in b.endpoints})

    async def start(self) -> None:
        self.shadow.start()
        self._source_task = asyncio.create_task(self.source.run(self.state))
        if self.settings.grpc_port is not None:
            await self.grpc.start(self.settings.listen_host, self.settings.grpc_port)

    async def stop(self) -> None:
        await self.grpc.close()
        if self._source_task is not None:
            self._source_task.cancel()
            await asyncio.gather(self._source_task, return_exceptions=True)
        await self.shadow.stop()
        self.upstream.close()

    async def handle(self, request: Request) -> Reply:
        """Answer one request (the front end frames and writes the answer)."""
        path = request.target.split(b"?", 1)[0]
        if path == b"/metrics" or path.startswith(b"/router/"):
            return self._own(path)
        return await self._forward(request, path)

    async def _forward(self, request: Request, path: bytes) -> Reply:
        started = time.perf_counter()
        pinned: bytes | None = None
        identified = False
        lines: list[bytes] = []
        for name, value in request.headers:
            if name in _SKIP:
                continue
            if name == _VERSION:
                pinned = value
            elif name == _REQUEST_ID:
                identified = True
            lines += (name, b": ", value, b"\r\n")
        body = request.body
        if body is None:
            return _error(413, "request body too large")
        routes = self.state.routes
        if routes is None:
            return _error(503, "the router has no routing table yet")
        inference = is_inference(path)
        if inference and not identified:
            # One id for the request wherever it goes: the stable or canary pod and the shadow
            # then name its rows alike, so they agree on sampling and labels join all of them.
            lines += (_REQUEST_ID, b": ", os.urandom(16).hex().encode(), b"\r\n")
        backend = routes.choose(pinned) if inference or pinned is not None else routes.stable
        if backend is None:
            assert pinned is not None
            self.metrics.observe("none", 404, time.perf_counter() - started)
            return _error(404, f"no backend serves version {pinned.decode(errors='replace')}")
        headers = b"".join(lines)
        head = b"%s %s HTTP/1.1\r\n%scontent-length: %d\r\n\r\n" % (
            request.method,
            request.target,
            headers,
            len(body),
        )
        self.metrics.in_flight += 1
        try:
            response = await self._send_to(backend.endpoint, len(backend.endpoints), head, body)
        except UpstreamError as error:
            reply = _error(error.status, f"{backend.name} backend: {error}", backend.header)
        else:
            response.headers.append((_BACKEND, backend.header))
            reply = Reply(response.status, response.headers, response.body)
        finally:
            self.metrics.in_flight -= 1
        seconds = time.perf_counter() - started
        self.metrics.observe(backend.name, reply.status, seconds)
        if inference and reply.status == 200:
            shadow = routes.mirror()
            if shadow is not None:
                query = request.target[len(path) :]
                self.shadow.offer(
                    ShadowJob(
                        shadow,
                        request.method,
                        shadow_target(path) + query,
                        headers,
                        body,
                        reply.body,
                        header_length(reply.headers),
                        seconds,
                    )
                )
        return reply

    async def _send_to(self, pick: Any, count: int, head: bytes, body: bytes) -> Any:
        """Forward to the next pod; a pod that refuses connections is skipped once (nothing was
        sent to it, so trying another cannot duplicate the request)."""
        for attempt in range(2 if count > 1 else 1):
            endpoint = pick()
            if endpoint is None:
                raise NoEndpointsError("no ready pods")
            try:
                return await self.upstream.request(endpoint, head, body)
            except ConnectError:
                if attempt == 1 or count < 2:
                    raise
        raise AssertionError("unreachable")

    def _own(self, path: bytes) -> Reply:
        if path == b"/metrics":
            body = generate_latest(self.registry)
            return Reply(200, [(b"content-type", CONTENT_TYPE_LATEST.encode())], body)
        if path == b"/router/live":
            return Reply(200, list(_JSON), b'{"live":true}')
        if path == b"/router/ready":
            reason = self._not_ready_reason()
            if reason is None:
                return Reply(200, list(_JSON), b'{"ready":true}')
            body = pydantic_core.to_json({"ready": False, "reason": reason})
            return Reply(503, list(_JSON), body)
        return _error(404, f"no router route {path.decode(errors='replace')}")

    def _not_ready_reason(self) -> str | None:
        if self.draining:
            return "shutting down"
        if self.state.table is None:
            return "no routing table read yet"
        if not self.state.ready:
            return f"no ready endpoints for stable ({self.state.table.stable.service})"
        return None


def _error(status: int, message: str, backend: bytes | None = None) -> Reply:
    headers = [*_JSON, (_BACKEND, backend)] if backend is not None else list(_JSON)
    return Reply(status, headers, pydantic_core.to_json({"error": message}))
