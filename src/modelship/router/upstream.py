"""A minimal HTTP/1.1 client for the backends: pooled keep-alive connections, whole bodies.

Inference answers are small JSON documents, so a response is read whole (Content-Length,
chunked or close-delimited, decoded by httptools) and handed back in one piece; no streaming,
no redirects, no TLS. A general client (httpx, aiohttp) costs several times more CPU per request
than the router's whole budget. Connections are reused LIFO (the warmest first); one that the
backend closed while idle is detected before use or, if it closes as we send, retried once on a
new connection when no byte of a response was received.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import cast

import httptools

from modelship.router.routes import Endpoint

Headers = list[tuple[bytes, bytes]]

SWEEP_SECONDS = 0.05
"""How often deadlines are checked: a timeout fires at most this much late."""

# Hop-by-hop headers (RFC 9110 7.6.1) and the framing we redo ourselves.
SKIP_RESPONSE_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"proxy-connection"}
)


class UpstreamError(Exception):
    """The backend could not be reached or answered nonsense: 502 for the caller."""

    status = 502


class UpstreamTimeoutError(UpstreamError):
    """The backend did not answer in time: 504 for the caller."""

    status = 504


class ConnectError(UpstreamError):
    """No connection could be made: nothing was sent, another pod may be tried."""


class NoEndpointsError(UpstreamError):
    """The backend has no ready pod: 503, as the server itself answers while not ready."""

    status = 503


class _RetryError(UpstreamError):
    """A reused connection closed before any response byte (the keep-alive race)."""


@dataclass(slots=True)
class Response:
    status: int
    headers: Headers
    body: bytes


class _Connection(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_framed",
        "_headers",
        "_parser",
        "closed",
        "deadline",
        "keep_alive",
        "received",
        "transport",
        "waiter",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.keep_alive = False
        self.received = False
        self.deadline = 0.0  # loop time by which the current exchange must be answered
        # One parser for the connection's life: it reads one response after another, and a
        # connection that failed mid-response is closed, never reused.
        self._parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._framed = False  # Content-Length or chunked: the end is not the connection's

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(UpstreamError(f"invalid response from backend: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        if self.received and not self._framed and self._status_code():
            self._complete()  # the body was delimited by the close
        elif not self.received:
            self._fail(_RetryError("backend closed the connection"))
        else:
            self._fail(UpstreamError("backend closed the connection mid-response"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        for name, _ in self._headers:
            if name in (b"content-length", b"transfer-encoding"):
                self._framed = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        self._complete()

    # ours
    def _status_code(self) -> int:
        try:
            return int(self._parser.get_status_code())
        except Exception:
            return 0

    def _complete(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        headers = [h for h in self._headers if h[0] not in SKIP_RESPONSE_HEADERS]
        waiter.set_result(Response(self._status_code(), headers, body))

    def _fail(self, error: UpstreamError) -> None:
        self.keep_alive = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def _timeout(self) -> None:
        self._fail(UpstreamTimeoutError("backend did not answer in time"))

    async def exchange(self, request: bytes, deadline: float) -> Response:
        """Send `request` and wait for the response; `deadline` is in loop time, enforced by
        the pool's sweeper."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.deadline = deadline
        self.received = False
        self.keep_alive = False
        self._reset()
        try:
            self.transport.write(request)
            return await self.waiter
        finally:
            self.waiter = None


class Upstream:
    """Pools of keep-alive connections, one per backend pod."""

    def __init__(
        self, *, connect_timeout: float, request_timeout: float, max_idle: int = 128
    ) -> None:
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.max_idle = max_idle
        self._idle: dict[Endpoint, deque[_Connection]] = {}
        self.opened = 0  # connections ever opened (tests check reuse with it)
        # Timeouts by a sweep over busy connections rather than a timer per request: on uvloop
        # call_later + cancel costs more than a tenth of the router's whole budget per request.
        self._busy: set[_Connection] = set()
        self._sweeping: asyncio.TimerHandle | None = None

    async def request(
        self, endpoint: Endpoint, head: bytes, body: bytes, deadline: float | None = None
    ) -> Response:
        """Send one request (`head` is the request line and headers, ending in CRLF CRLF)."""
        message = head + body if body else head
        # A timer per exchange, not asyncio.timeout: no task or context manager per request.
        loop = asyncio.get_running_loop()
        until = loop.time() + (self.request_timeout if deadline is None else deadline)
        if self._sweeping is None:
            self._sweeping = loop.call_later(SWEEP_SECONDS, self._sweep)
        connection, reused = await self._acquire(endpoint)
        try:
            try:
                self._busy.add(connection)
                response = await connection.exchange(message, until)
            except _RetryError:
                if not reused:
                    raise UpstreamError("backend closed the connection") from None
                self._busy.discard(connection)
                connection = await self._connect(endpoint)
                self._busy.add(connection)
                response = await connection.exchange(message, until)
        except BaseException:
            # Failed or cancelled mid-exchange: the connection's state is unknown, never reuse.
            if connection.transport is not None:
                connection.transport.close()
            raise
        finally:
            self._busy.discard(connection)
        self._release(endpoint, connection)
        return response

    async def _acquire(self, endpoint: Endpoint) -> tuple[_Connection, bool]:
        idle = self._idle.get(endpoint)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection, True
        return await self._connect(endpoint), False

    async def _connect(self, endpoint: Endpoint) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            transport, connection = await asyncio.wait_for(
                loop.create_connection(_Connection, endpoint.host, endpoint.port),
                self.connect_timeout,
            )
        except TimeoutError:
            raise ConnectError(f"connecting to {endpoint.host}:{endpoint.port} timed out") from None
        except OSError as error:
            raise ConnectError(
                f"cannot connect to {endpoint.host}:{endpoint.port}: {error.strerror or error}"
            ) from None
        # uvloop may return before calling connection_made: do not wait for it to send.
        connection.transport = transport
        self.opened += 1
        return connection

    def _release(self, endpoint: Endpoint, connection: _Connection) -> None:
        if connection.closed or not connection.keep_alive:
            if connection.transport is not None:
                connection.transport.close()
            return
        idle = self._idle.setdefault(endpoint, deque())
        if len(idle) >= self.max_idle:
            assert connection.transport is not None
            connection.transport.close()
            return
        idle.append(connection)

    def retain(self, endpoints: set[Endpoint]) -> None:
        """Close idle connections to pods that are no longer anyone's backend."""
        for endpoint in [e for e in self._idle if e not in endpoints]:
            for connection in self._idle.pop(endpoint):
                if connection.transport is not None:
                    connection.transport.close()

    def _sweep(self) -> None:
        """Time out exchanges past their deadline; runs every SWEEP_SECONDS while in use."""
        now = asyncio.get_running_loop().time()
        for connection in [c for c in self._busy if c.deadline <= now]:
            connection._timeout()
        self._sweeping = (
            asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)
            if self._busy
            else None
        )

    def close(self) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
            self._sweeping = None
        self.retain(set())
