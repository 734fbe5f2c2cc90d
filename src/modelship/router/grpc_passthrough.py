"""gRPC through the router: whole connections passed through to stable's pods, byte for byte.

While the router is in front, the production Service selects router pods for every port, gRPC
included; without this, gRPC callers would be refused for the length of a canary. The router
does not weigh gRPC: HTTP/2 multiplexes many calls over one long-lived connection, so splitting
connections would give the canary an unpredictable share, and the analysis compares the REST
traffic of both sides. gRPC therefore stays on stable, which is the safe side, until the rollout
ends; REST carries the canary's weight. Each new connection goes to the next stable pod that has
a gRPC port (round robin); a pod that refuses the connection is skipped once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from modelship.router.routes import Endpoint
from modelship.router.state import RoutingState

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024


class GrpcPassthrough:
    def __init__(self, state: RoutingState, connect_timeout: float) -> None:
        self.state = state
        self.connect_timeout = connect_timeout
        self.forwarded = 0
        self.refused = 0
        self.open = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)

    async def close(self) -> None:
        """At the router's shutdown (after its drain): open connections are cut, and their
        clients reconnect through the Service, which by then selects other pods."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            upstream = await self._connect()
            if upstream is None:
                self.refused += 1
                return
            self.forwarded += 1
            self.open += 1
            try:
                await _splice(reader, writer, *upstream)
            finally:
                self.open -= 1
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        routes = self.state.routes
        if routes is None:
            log.warning("gRPC connection refused: no routing table yet")
            return None
        tried: set[Endpoint] = set()
        for _ in range(2):
            endpoint = routes.stable.grpc_endpoint()
            if endpoint is None or endpoint in tried:
                break
            tried.add(endpoint)
            assert endpoint.grpc_port is not None
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(endpoint.host, endpoint.grpc_port),
                    self.connect_timeout,
                )
            except (OSError, TimeoutError) as error:
                log.warning("stable pod %s refused gRPC: %s", endpoint.host, error)
        if not tried:
            log.warning("gRPC connection refused: stable has no ready pod with a gRPC port")
        return None


async def _splice(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    """Copy both ways until either side closes; then close both."""
    try:
        await asyncio.gather(
            _copy(client_reader, upstream_writer), _copy(upstream_reader, client_writer)
        )
    finally:
        upstream_writer.close()
        with contextlib.suppress(Exception):
            await upstream_writer.wait_closed()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        # Half-close: the other direction may still be answering.
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
