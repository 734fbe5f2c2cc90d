"""Our gRPC-over-HTTP/2 server (serving/h2) on a real socket: grpcio's client for what clients
do (large messages both ways, many calls at once, deadlines, unknown methods), and a raw socket
for what they must not (malformed frames, a disconnect mid-call)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc import aio

from modelship.serving.h2 import frames as f
from modelship.serving.h2 import grpc_wire
from modelship.serving.h2.hpack import Decoder, Header, encode_literal
from modelship.serving.h2.server import H2GrpcServer

ECHO = "/test.Service/Echo"
SLOW = "/test.Service/Slow"
MAX_MESSAGE = 8 << 20


class Handlers:
    """Echo answers its request reversed and doubled (a reply larger than the request); Slow
    waits until released, and records being cancelled."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.slow_started = asyncio.Event()
        self.cancelled = 0

    async def echo(self, message: bytes, headers: list[Header]) -> grpc_wire.Reply:
        return grpc_wire.ok(message[::-1] * 2)

    async def slow(self, message: bytes, headers: list[Header]) -> grpc_wire.Reply:
        self.slow_started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return grpc_wire.ok(b"late")


@pytest.fixture
async def served() -> AsyncIterator[tuple[H2GrpcServer, Handlers]]:
    handlers = Handlers()
    methods = {ECHO.encode(): handlers.echo, SLOW.encode(): handlers.slow}
    server = H2GrpcServer(methods, MAX_MESSAGE, "127.0.0.1", 0)
    await server.start()
    yield server, handlers
    await server.stop(0)


def stub(channel: aio.Channel, method: str) -> aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(method, request_serializer=_same, response_deserializer=_same)


def _same(data: bytes) -> bytes:
    return data


async def test_large_messages_both_ways_pass_the_flow_control_windows(
    served: tuple[H2GrpcServer, Handlers],
) -> None:
    server, _ = served
    options = [("grpc.max_receive_message_length", 32 << 20)]
    async with aio.insecure_channel(f"127.0.0.1:{server.port}", options=options) as channel:
        echo = stub(channel, ECHO)
        assert await echo(b"ab") == b"baba"
        # 3 MiB in: beyond our 1 MiB receive window; 6 MiB out: beyond the client's windows.
        request = bytes(range(256)) * (3 * 4096)
        assert await echo(request) == request[::-1] * 2


async def test_many_concurrent_calls_beyond_the_stream_limit(
    served: tuple[H2GrpcServer, Handlers],
) -> None:
    server, _ = served
    async with aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        echo = stub(channel, ECHO)
        replies = await asyncio.gather(*(echo(str(i).encode() * 100) for i in range(400)))
        assert replies == [(str(i).encode() * 100)[::-1] * 2 for i in range(400)]


async def test_refusals_are_grpc_statuses(served: tuple[H2GrpcServer, Handlers]) -> None:
    server, handlers = served
    async with aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        with pytest.raises(aio.AioRpcError) as unknown:
            await stub(channel, "/test.Service/Nope")(b"x")
        assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "/test.Service/Nope" in (unknown.value.details() or "")

        with pytest.raises(aio.AioRpcError) as too_large:
            await stub(channel, ECHO)(b"x" * (MAX_MESSAGE + 1))
        assert too_large.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        with pytest.raises(aio.AioRpcError) as late:
            await stub(channel, SLOW)(b"x", timeout=0.3)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert await stub(channel, ECHO)(b"ok") == b"koko"  # the connection is still good
    assert handlers.cancelled == 1


async def test_the_server_enforces_grpc_timeout_itself(
    served: tuple[H2GrpcServer, Handlers],
) -> None:
    server, handlers = served
    async with RawClient(server.port) as client:
        client.call(1, SLOW, b"x", extra=((b"grpc-timeout", b"100m"),))
        trailers = await client.headers_of(1)
        assert (b"grpc-status", b"4") in trailers
    assert handlers.cancelled == 1


async def test_a_client_that_disconnects_mid_call_cancels_it(
    served: tuple[H2GrpcServer, Handlers],
) -> None:
    server, handlers = served
    async with RawClient(server.port) as client:
        client.call(1, SLOW, b"x")
        await asyncio.wait_for(handlers.slow_started.wait(), 5)
    await _eventually(lambda: handlers.cancelled == 1)
    async with aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        assert await stub(channel, ECHO)(b"up") == b"pupu"


async def test_rst_stream_cancels_the_call_and_ping_is_answered(
    served: tuple[H2GrpcServer, Handlers],
) -> None:
    server, handlers = served
    async with RawClient(server.port) as client:
        client.call(1, SLOW, b"x")
        await asyncio.wait_for(handlers.slow_started.wait(), 5)
        client.send(f.rst_stream(1, f.CANCEL))
        client.send(f.frame(f.PING, 0, 0, b"12345678"))
        _, flags, _, payload = await client.frame_of(f.PING)
        assert (flags, payload) == (f.ACK, b"12345678")
        assert handlers.cancelled == 1


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (f.frame(f.DATA, 0, 0, b"x"), f.PROTOCOL_ERROR),
        (f.frame(f.HEADERS, f.END_HEADERS, 2, b"\x83"), f.PROTOCOL_ERROR),  # even stream id
        (f.frame(f.HEADERS, f.END_HEADERS, 1, b"\xff\xff\xff"), f.COMPRESSION_ERROR),
        (f.frame(f.CONTINUATION, f.END_HEADERS, 1, b"\x83"), f.PROTOCOL_ERROR),
        (f.frame(f.SETTINGS, 0, 0, b"\x00\x04\x00"), f.FRAME_SIZE_ERROR),
        (f.frame(f.PING, 0, 0, b"short"), f.PROTOCOL_ERROR),
        (f.frame(f.WINDOW_UPDATE, 0, 0, b"\x00\x00\x00\x00"), f.PROTOCOL_ERROR),
        (f.HEADER.pack(0x40, 0x01, f.DATA, 0, 1), f.FRAME_SIZE_ERROR),  # 16 KiB + 1
        (f.frame(f.DATA, 0, 9, b"x"), f.PROTOCOL_ERROR),  # a stream never opened
    ],
)
async def test_malformed_frames_close_the_connection_with_goaway(
    served: tuple[H2GrpcServer, Handlers], frame: bytes, code: int
) -> None:
    server, _ = served
    async with RawClient(server.port) as client:
        client.send(frame)
        _, _, _, payload = await client.frame_of(f.GOAWAY)
        assert struct.unpack(">I", payload[4:8])[0] == code
        assert await client.closed()
    async with aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        assert await stub(channel, ECHO)(b"up") == b"pupu"


async def test_a_connection_that_is_not_http2_is_closed(
    served: tuple[H2GrpcServer, Handlers],
) -> None:
    server, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 5)  # until the server closes
    writer.close()
    kinds = []
    while data:
        high, low, kind, _, _ = f.HEADER.unpack_from(data)
        payload = data[9 : 9 + ((high << 8) | low)]
        kinds.append(kind)
        data = data[9 + len(payload) :]
    assert kinds == [f.SETTINGS, f.WINDOW_UPDATE, f.GOAWAY]
    assert struct.unpack(">I", payload[4:8])[0] == f.PROTOCOL_ERROR


async def test_stop_lets_calls_in_flight_finish_and_refuses_new_ones(
    served: tuple[H2GrpcServer, Handlers],
) -> None:
    server, handlers = served
    async with RawClient(server.port) as client:
        client.call(1, SLOW, b"x")
        await asyncio.wait_for(handlers.slow_started.wait(), 5)
        stopping = asyncio.create_task(server.stop(5))
        await client.frame_of(f.GOAWAY)
        client.call(3, ECHO, b"x")
        _, _, stream, _ = await client.frame_of(f.RST_STREAM)
        assert stream == 3
        handlers.release.set()
        trailers = await client.headers_of(1)
        assert (b"grpc-status", b"0") in trailers
        await asyncio.wait_for(stopping, 5)


class RawClient:
    """A client that writes frames as given and reads what comes back."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._decoder = Decoder()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawClient:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        self.send(f.PREFACE + f.settings({}))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._writer is not None
        self._writer.close()

    def send(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    def call(
        self, stream_id: int, path: str, message: bytes, extra: tuple[Header, ...] = ()
    ) -> None:
        block = b"\x83\x86" + encode_literal(b":path", path.encode())  # POST, http
        block += encode_literal(b"content-type", b"application/grpc")
        for name, value in extra:
            block += encode_literal(name, value)
        body = struct.pack(">BI", 0, len(message)) + message
        self.send(
            f.frame(f.HEADERS, f.END_HEADERS, stream_id, block)
            + f.frame(f.DATA, f.END_STREAM, stream_id, body)
        )

    async def frame(self) -> tuple[int, int, int, bytes]:
        assert self._reader is not None
        head = await asyncio.wait_for(self._reader.readexactly(9), 5)
        high, low, kind, flags, stream_id = f.HEADER.unpack(head)
        payload = await self._reader.readexactly((high << 8) | low)
        return kind, flags, stream_id, payload

    async def frame_of(self, kind: int) -> tuple[int, int, int, bytes]:
        while True:
            found = await self.frame()
            if found[0] == f.HEADERS:
                self._decoder.decode(found[3])
            if found[0] == kind:
                return found

    async def headers_of(self, stream_id: int) -> list[Header]:
        """The header list of the stream's HEADERS frame that ends it."""
        while True:
            kind, flags, stream, payload = await self.frame()
            if kind == f.HEADERS:
                headers = self._decoder.decode(payload)
                if stream == stream_id and flags & f.END_STREAM:
                    return headers

    async def closed(self) -> bool:
        assert self._reader is not None
        return await asyncio.wait_for(self._reader.read(), 5) == b""


async def _eventually(condition: object, seconds: float = 5) -> None:
    assert callable(condition)
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")
