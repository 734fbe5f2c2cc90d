"""The router's HTTP/1.1 server: httptools on the loop's transports, one write per answer.

Why not uvicorn: on this project's benchmark machine uvicorn answering a constant costs 60-80
CPU-µs per request and a bare protocol about 10, while the router's whole budget is 100 (issue
17). The router needs little of a general server (whole bodies, no streaming, no WebSocket, no
ASGI), but it must still get HTTP/1.1 right: Content-Length and chunked request bodies (decoded
by httptools), keep-alive and HTTP/1.0, pipelined requests answered in order, `Expect:
100-continue`, a body limit, idle connections closed, and a shutdown that lets in-flight
requests finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import cast

import httptools

log = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]

_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_MAX_PIPELINED = 16  # queued requests per connection before reading pauses
_SWEEP_SECONDS = 1.0


@dataclass(slots=True)
class Request:
    method: bytes
    target: bytes  # as received: path and query
    headers: Headers  # names lower-cased, in order, hop-by-hop ones included
    body: bytes | None  # None: larger than the limit (the body was read and dropped)


@dataclass(slots=True)
class Reply:
    status: int
    headers: Headers  # without Content-Length and Connection: the server frames the answer
    body: bytes


Handler = Callable[[Request], Awaitable[Reply]]


def render(reply: Reply, keep_alive: bool) -> bytes:
    parts = [b"HTTP/1.1 %d %s\r\n" % (reply.status, _REASONS.get(reply.status, b""))]
    for name, value in reply.headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"content-length: %d\r\n" % len(reply.body))
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += (b"\r\n", reply.body)
    return b"".join(parts)


def _plain(status: int, message: str) -> Reply:
    return Reply(status, [(b"content-type", b"text/plain; charset=utf-8")], message.encode())


class HttpFrontend:
    """Accepts connections and hands each complete request to `handler`."""

    def __init__(self, handler: Handler, *, max_body_bytes: int, idle_seconds: float) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.idle_seconds = idle_seconds
        self.closing = False
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        self._sweeper = loop.call_later(_SWEEP_SECONDS, self._sweep)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def shutdown(self, grace_seconds: float) -> None:
        """Stop accepting, close idle connections, give busy ones `grace_seconds`, then close."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        loop = asyncio.get_running_loop()
        until = loop.time() + grace_seconds
        while True:
            for connection in [c for c in self.connections if not c.busy]:
                connection.close()
            if not self.connections or loop.time() >= until:
                break
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection.abort()

    def _sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        for connection in [c for c in self.connections if not c.busy]:
            if now - connection.last_active > self.idle_seconds:
                connection.close()
        self._sweeper = asyncio.get_running_loop().call_later(_SWEEP_SECONDS, self._sweep)


class _Connection(asyncio.Protocol):
    """One client connection: parse requests, answer them one after another, in order."""

    def __init__(self, frontend: HttpFrontend) -> None:
        self.frontend = frontend
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.pending: deque[tuple[Request, bool]] = deque()
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self.paused = False
        self.last_active = self.loop.time()
        self._url = b""
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._size = 0

    @property
    def busy(self) -> bool:
        return self.task is not None or bool(self.pending)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are alike, not subclasses
        self.frontend.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.frontend.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # Upgrade (h2c, websocket) is not offered: the request is answered in HTTP/1.1
        except httptools.HttpParserError as error:
            self._refuse(400, f"invalid HTTP request: {error}")

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self._size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        for name, value in self._headers:
            if (
                name == b"expect"
                and value.lower() == b"100-continue"
                and self._declared_length() <= self.frontend.max_body_bytes
                and self.transport is not None
            ):
                self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size <= self.frontend.max_body_bytes:
            self._body.append(body)

    def on_message_complete(self) -> None:
        body: bytes | None = None
        if self._size <= self.frontend.max_body_bytes:
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = Request(self.parser.get_method(), self._url, self._headers, body)
        self.pending.append((request, self.parser.should_keep_alive()))
        if len(self.pending) >= _MAX_PIPELINED and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True
        if self.task is None:
            self.task = self.loop.create_task(self._answer())

    # ours
    def _declared_length(self) -> int:
        for name, value in self._headers:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    async def _answer(self) -> None:
        try:
            while self.pending and not self.closed:
                request, keep_alive = self.pending.popleft()
                try:
                    reply = await self.frontend.handler(request)
                except Exception:
                    log.exception("router failed on %s", request.target[:200])
                    reply = _plain(500, "internal router error")
                keep_alive = keep_alive and not self.frontend.closing
                if self.closed or self.transport is None:
                    return
                self.transport.write(render(reply, keep_alive))
                self.last_active = self.loop.time()
                if not keep_alive:
                    self.pending.clear()
                    self.transport.close()
                    return
                if self.paused and len(self.pending) < _MAX_PIPELINED // 2:
                    self.paused = False
                    self.transport.resume_reading()
        finally:
            self.task = None

    def _refuse(self, status: int, message: str) -> None:
        if self.transport is None or self.closed:
            return
        if self.task is None and not self.pending:
            self.transport.write(render(_plain(status, message), keep_alive=False))
        self.transport.close()
