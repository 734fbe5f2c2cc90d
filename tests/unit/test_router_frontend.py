"""The router's HTTP/1.1 front end on real sockets, spoken to byte by byte: framing that
clients really send (chunked bodies, pipelining, Expect: 100-continue, HTTP/1.0), what it refuses,
and idle connections closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from modelship.router.frontend import HttpFrontend, Reply, Request


async def echo(request: Request) -> Reply:
    """Answers with what it understood of the request."""
    if request.body is None:
        return Reply(413, [], b"too large")
    if request.target.startswith(b"/slow"):
        await asyncio.sleep(0.2)
    summary = b"%s %s %d:%s" % (request.method, request.target, len(request.body), request.body)
    return Reply(200, [(b"content-type", b"text/plain")], summary)


@pytest.fixture
async def frontend() -> AsyncIterator[HttpFrontend]:
    server = HttpFrontend(echo, max_body_bytes=64, idle_seconds=1.5)
    await server.start("127.0.0.1", 0)
    yield server
    await server.shutdown(1)


async def exchange(port: int, data: bytes, until: bytes | None = None) -> bytes:
    """Send raw bytes; read until `until` appears or the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    received = b""
    try:
        while until is None or until not in received:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            if not chunk:
                break
            received += chunk
    finally:
        writer.close()
    return received


async def test_pipelined_requests_are_answered_in_order_on_one_connection(
    frontend: HttpFrontend,
) -> None:
    requests = (
        b"POST /slow HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nab"
        b"GET /b?q=1 HTTP/1.1\r\nhost: x\r\n\r\n"
        b"POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
        b"3\r\nxyz\r\n2\r\n12\r\n0\r\n\r\n"
    )
    received = await exchange(frontend.port, requests, until=b"5:xyz12")
    answers = received.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert [a.rsplit(b"\r\n\r\n", 1)[1] for a in answers] == [
        b"POST /slow 2:ab",
        b"GET /b?q=1 0:",
        b"POST /c 5:xyz12",
    ]
    assert b"content-length: 15\r\n" in answers[0] and b"connection: close" not in received


async def test_expect_100_continue_gets_its_interim_answer(frontend: HttpFrontend) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", frontend.port)
    writer.write(
        b"POST /e HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\n"
    )
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"abc")
    answer = await asyncio.wait_for(reader.readuntil(b"3:abc"), 5)
    assert answer.startswith(b"HTTP/1.1 200 OK")
    writer.close()


async def test_http_1_0_and_connection_close_end_the_connection(frontend: HttpFrontend) -> None:
    for request in (
        b"GET /old HTTP/1.0\r\n\r\n",
        b"GET /bye HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    ):
        received = await exchange(frontend.port, request)  # returns only once the server closes
        assert received.startswith(b"HTTP/1.1 200 OK") and b"connection: close\r\n" in received


async def test_a_body_over_the_limit_is_refused_and_malformed_requests_get_400(
    frontend: HttpFrontend,
) -> None:
    big = b"x" * 100
    received = await exchange(
        frontend.port,
        b"POST /big HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n" + big,
        until=b"too large",
    )
    assert received.startswith(b"HTTP/1.1 413 Request Entity Too Large")
    received = await exchange(frontend.port, b"NOT HTTP AT ALL\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 400 Bad Request")
    assert b"connection: close" in received


async def test_idle_connections_are_closed_and_httpx_reconnects(frontend: HttpFrontend) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{frontend.port}") as client:
        assert (await client.get("/one")).text == "GET /one 0:"
        assert len(frontend.connections) == 1
        await asyncio.sleep(3)  # idle_seconds 1.5, swept every second
        assert not frontend.connections
        assert (await client.get("/two")).text == "GET /two 0:"


async def test_shutdown_lets_the_request_in_flight_finish(frontend: HttpFrontend) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{frontend.port}") as client:
        slow = asyncio.create_task(client.post("/slow", content=b"z"))
        await asyncio.sleep(0.05)
        await frontend.shutdown(2)
        answer = await slow
        assert answer.text == "POST /slow 1:z" and answer.headers["connection"] == "close"
        with pytest.raises(httpx.ConnectError):
            await client.get("/after")
