"""The router as a raw ASGI app: choose a backend, forward, answer, maybe mirror.

A raw ASGI callable rather than a framework: routing here is two prefix checks, and Starlette's
request objects and middleware would cost more than the whole forwarding budget (≤100 CPU-µs).

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
import time
from typing import Any

import pydantic_core
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from modelship.contracts.routing import BACKEND_HEADER, VERSION_HEADER
from modelship.router.grpc_passthrough import GrpcPassthrough
from modelship.router.metrics import RouterMetrics
from modelship.router.routes import Routes
from modelship.router.settings import RouterSettings
from modelship.router.shadow import ShadowJob, ShadowMirror, is_inference, shadow_target
from modelship.router.state import RoutingSource, RoutingState
from modelship.router.upstream import ConnectError, NoEndpointsError, Upstream, UpstreamError

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]

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

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path == "/metrics" or path.startswith("/router/"):
                await self._own(path, send)
            else:
                await self._forward(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _forward(self, scope: Scope, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        pinned: bytes | None = None
        lines: list[bytes] = []
        for name, value in scope["headers"]:
            if name in _SKIP:
                continue
            if name == _VERSION:
                pinned = value
            lines += (name, b": ", value, b"\r\n")
        body = await _read_body(receive, self.settings.max_body_bytes)
        if body is None:
            await _error(send, 413, "request body too large")
            return
        routes = self.state.routes
        if routes is None:
            await _error(send, 503, "the router has no routing table yet")
            return
        path: bytes = scope.get("raw_path") or scope["path"].encode()
        inference = is_inference(path)
        backend = routes.choose(pinned) if inference or pinned is not None else routes.stable
        if backend is None:
            assert pinned is not None
            await _error(send, 404, f"no backend serves version {pinned.decode(errors='replace')}")
            self.metrics.observe("none", 404, time.perf_counter() - started)
            return
        query: bytes = scope.get("query_string", b"")
        target = path + b"?" + query if query else path
        headers = b"".join(lines)
        head = b"%s %s HTTP/1.1\r\n%scontent-length: %d\r\n\r\n" % (
            scope["method"].encode(),
            target,
            headers,
            len(body),
        )
        self.metrics.in_flight += 1
        try:
            response = await self._send_to(backend.endpoint, len(backend.endpoints), head, body)
        except UpstreamError as error:
            status = error.status
            await _error(send, status, f"{backend.name} backend: {error}", backend.header)
        else:
            status = response.status
            response.headers.append((_BACKEND, backend.header))
            response.headers.append((b"content-length", b"%d" % len(response.body)))
            await send(
                {"type": "http.response.start", "status": status, "headers": response.headers}
            )
            await send({"type": "http.response.body", "body": response.body})
        finally:
            self.metrics.in_flight -= 1
        seconds = time.perf_counter() - started
        self.metrics.observe(backend.name, status, seconds)
        if inference and status == 200:
            shadow = routes.mirror()
            if shadow is not None:
                self.shadow.offer(
                    ShadowJob(
                        shadow,
                        scope["method"].encode(),
                        shadow_target(path) + (b"?" + query if query else b""),
                        headers,
                        body,
                        response.body,
                        seconds,
                    )
                )

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

    async def _own(self, path: str, send: Any) -> None:
        if path == "/metrics":
            body = generate_latest(self.registry)
            headers = [(b"content-type", CONTENT_TYPE_LATEST.encode())]
            await _answer(send, 200, body, headers)
        elif path == "/router/live":
            await _answer(send, 200, b'{"live":true}', _JSON)
        elif path == "/router/ready":
            reason = self._not_ready_reason()
            if reason is None:
                await _answer(send, 200, b'{"ready":true}', _JSON)
            else:
                await _answer(
                    send, 503, pydantic_core.to_json({"ready": False, "reason": reason}), _JSON
                )
        else:
            await _error(send, 404, f"no router route {path}")

    def _not_ready_reason(self) -> str | None:
        if self.draining:
            return "shutting down"
        if self.state.table is None:
            return "no routing table read yet"
        if not self.state.ready:
            return f"no ready endpoints for stable ({self.state.table.stable.service})"
        return None

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as error:
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The whole request body; None when it exceeds `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _answer(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Any, status: int, message: str, backend: bytes | None = None) -> None:
    headers = [*_JSON, (_BACKEND, backend)] if backend is not None else _JSON
    await _answer(send, status, pydantic_core.to_json({"error": message}), headers)
