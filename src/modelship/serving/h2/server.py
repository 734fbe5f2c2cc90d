"""Listening for gRPC connections (connection.py) and stopping without dropping a call.

Shaped like grpc.aio's server as server.py uses it (bound when created, `start`, `stop(grace)`),
so the transports are interchangeable. Stopping closes the listener, sends every connection a
GOAWAY (clients open no new stream here and reconnect elsewhere), waits up to `grace` for the
calls in flight, then closes the connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from modelship.serving.h2.connection import GrpcConnection, Handler


class H2GrpcServer:
    def __init__(
        self,
        methods: Mapping[bytes, Handler],
        max_message_bytes: int,
        host: str,
        port: int,
        reuse_port: bool = False,
    ) -> None:
        self._methods = methods
        self._max_message = max_message_bytes
        self._host = host
        self._port = port
        self._reuse_port = reuse_port
        self._server: asyncio.Server | None = None
        self._connections: set[GrpcConnection] = set()

    async def start(self) -> None:
        self._server = await asyncio.get_running_loop().create_server(
            self._connection,
            self._host,
            self._port,
            # Without workers, a second server on the port is a mistake that must fail loudly.
            reuse_port=self._reuse_port or None,
            backlog=1024,
        )

    def _connection(self) -> GrpcConnection:
        connection = GrpcConnection(self._methods, self._max_message, self._connections.discard)
        self._connections.add(connection)
        return connection

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the kernel's choice for 0)."""
        assert self._server is not None and self._server.sockets
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self, grace: float | None) -> None:
        if self._server is None:
            return
        self._server.close()
        connections = list(self._connections)
        for connection in connections:
            connection.goaway()
        waits = [asyncio.ensure_future(c.idle.wait()) for c in connections if not c.idle.is_set()]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=grace)
            for wait in pending:
                wait.cancel()
        for connection in connections:
            connection.close()
        await self._server.wait_closed()
