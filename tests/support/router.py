"""Real HTTP servers in the test's event loop: inference servers, hand-made backends, routers.

The router is tested against real sockets (its own front end and client), never against a
mocked transport: what it must get right is HTTP framing, keep-alive and failures on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry

from modelship.catalog import VersionMetadata, open_catalog
from modelship.contracts.routing import RouteBackend, RoutingTable
from modelship.router.proxy import RouterApp
from modelship.router.routes import Endpoint
from modelship.router.server import RouterServer
from modelship.router.settings import RouterSettings
from modelship.router.state import StaticSource
from modelship.serving import ServingSettings, create_app
from support.factories import iris_staged_version

NAMESPACE = "ml"


def publish_iris(root: Path, model: Any = None) -> VersionMetadata:
    """A new version of `iris` in the catalog at `root` (a decision tree unless `model`)."""
    return open_catalog(str(root)).publish(NAMESPACE, "iris", iris_staged_version(model))


def inference_app(root: Path, version: VersionMetadata) -> Any:
    settings = ServingSettings(
        model_name="iris",
        namespace=NAMESPACE,
        version=version.version,
        catalog_root=str(root),
        expected_digest=version.digest,
        stage="production",
    )
    return create_app(settings, registry=CollectorRegistry())


class InProcess:
    """An ASGI app served by uvicorn on a free local port, in the running event loop."""

    def __init__(self, app: Any, *, server: type[uvicorn.Server] = uvicorn.Server, **kw: Any):
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", access_log=False
        )
        self.server = server(config, **kw)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> InProcess:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
                raise RuntimeError("server stopped while starting")
            await asyncio.sleep(0.01)
        return self

    @property
    def port(self) -> int:
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("127.0.0.1", self.port)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task


class RouterInProcess:
    """The router's own server (front end, drain, shutdown) on a free port, in this loop."""

    def __init__(self, app: RouterApp) -> None:
        self.server = RouterServer(app, port=0)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> RouterInProcess:
        self.task = asyncio.create_task(self.server.serve())
        started = asyncio.create_task(self.server.started.wait())
        await asyncio.wait({self.task, started}, return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            started.cancel()
            self.task.result()
            raise RuntimeError("router stopped while starting")
        return self

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self) -> None:
        self.server.interrupt()
        if self.task is not None:
            await self.task


def router_settings(**overrides: Any) -> RouterSettings:
    values: dict[str, Any] = {
        "namespace": NAMESPACE,
        "deployment": "iris",
        "model_name": "iris",
        "routing_config_map": "iris-routing",
        "drain_seconds": 0.3,
        "shutdown_grace_seconds": 2,
    }
    return RouterSettings(**{**values, **overrides})


def backend(version: int, service: str) -> RouteBackend:
    return RouteBackend(version=version, digest="sha256:" + "0" * 64, service=service)


def static_router(
    table: RoutingTable, endpoints: dict[str, tuple[Endpoint, ...]], **settings: Any
) -> RouterApp:
    return RouterApp(router_settings(**settings), StaticSource(table, endpoints))


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawBackend:
    """A hand-written HTTP/1.1 server whose answer (framing, delays, closing) a test chooses.

    `reply(request_head)` returns the raw bytes to send, or None to close without answering.
    """

    def __init__(self, reply: Callable[[bytes], bytes | None], delay: float = 0.0) -> None:
        self.reply = reply
        self.delay = delay
        self.requests = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self, port: int = 0) -> RawBackend:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("127.0.0.1", self.port)

    async def stop(self) -> None:
        """Stop listening and drop every open connection, as a dying pod does."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in list(self._writers):
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                if self.delay:
                    await asyncio.sleep(self.delay)
                answer = self.reply(head)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    break
        self._writers.discard(writer)
        writer.close()


def json_reply(body: bytes, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        status.encode(),
        len(body),
        extra,
        body,
    )
