"""One HTTP/2 connection carrying unary gRPC calls, as an asyncio Protocol.

Why our own: grpcio's transport alone costs more CPU per unary call than our whole REST request
(README "## gRPC"). A unary call is three frames in (HEADERS, DATA, maybe WINDOW_UPDATE) and
three out (HEADERS, DATA, trailers), written with one `transport.write`; the header blocks we
send are precomputed. This is a server for unary calls only: a second message on a stream, or a
server push, is refused.

Flow control (RFC 9113 section 5.2): we consume DATA as it arrives (bounded by the largest
request we accept and the streams we allow at once) and give the window back in WINDOW_UPDATEs
once half of it is used; the sending side (`outbound.py`) sends DATA only within the peer's
windows. A protocol violation is a GOAWAY with its error code and the connection closes; it
never reaches the handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

from modelship.serving.h2 import frames as f
from modelship.serving.h2 import grpc_wire as wire
from modelship.serving.h2.hpack import Decoder, Header, HpackError
from modelship.serving.h2.outbound import Outbound
from modelship.serving.h2.streams import H2ProtocolError, Stream, unpad

log = logging.getLogger(__name__)

# One method: the request message and its metadata in, (grpc status, message, reply) out.
Handler = Callable[[bytes, list[Header]], Awaitable[wire.Reply]]

RECEIVE_WINDOW = 1 << 20  # per stream and for the connection; refilled at half
MAX_CONCURRENT_STREAMS = 128
_HEADER_TABLE = 4096
_MAX_HEADER_BLOCK = 64 * 1024


class GrpcConnection(asyncio.Protocol):
    """The server side of one connection."""

    def __init__(
        self,
        methods: Mapping[bytes, Handler],
        max_message_bytes: int,
        on_close: Callable[[GrpcConnection], None] | None = None,
    ) -> None:
        self._methods = methods
        self._max_message = max_message_bytes
        self._on_close = on_close
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._preface_seen = False
        self._decoder = Decoder(_HEADER_TABLE)
        self._streams: dict[int, Stream] = {}
        self._last_stream_id = 0
        self._closing = False  # GOAWAY sent: no new streams
        # A header block in progress: (stream id, flags of its HEADERS, fragments).
        self._continuing: tuple[int, int, list[bytes]] | None = None
        self._peer_initial_window = f.DEFAULT_WINDOW
        self._recv_unacked = 0
        self._loop = asyncio.get_running_loop()
        self._outbound = Outbound(self._loop, self._finish)
        self._write = self._outbound.write
        self._answer = self._outbound.answer
        self.idle = asyncio.Event()
        self.idle.set()

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport = cast(asyncio.Transport, transport)
        self._outbound.transport = transport
        transport.write(
            f.settings(
                {
                    f.SETTINGS_MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
                    f.SETTINGS_INITIAL_WINDOW_SIZE: RECEIVE_WINDOW,
                    f.SETTINGS_MAX_HEADER_LIST_SIZE: _MAX_HEADER_BLOCK,
                    f.SETTINGS_ENABLE_PUSH: 0,
                }
            )
            + f.window_update(0, RECEIVE_WINDOW - f.DEFAULT_WINDOW)
        )

    def connection_lost(self, exc: Exception | None) -> None:
        for stream in self._streams.values():
            stream.cancel()
        self._streams.clear()
        self._outbound.blocked.clear()
        self._transport = self._outbound.transport = None
        self.idle.set()
        if self._on_close is not None:
            self._on_close(self)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        try:
            if not self._preface_seen:
                if len(buffer) < len(f.PREFACE):
                    if not f.PREFACE.startswith(bytes(buffer)):
                        raise H2ProtocolError(f.PROTOCOL_ERROR, "not an HTTP/2 connection preface")
                    return
                if buffer[: len(f.PREFACE)] != f.PREFACE:
                    raise H2ProtocolError(f.PROTOCOL_ERROR, "not an HTTP/2 connection preface")
                del buffer[: len(f.PREFACE)]
                self._preface_seen = True
            pos = 0
            end = len(buffer)
            unpack = f.HEADER.unpack_from
            while end - pos >= f.HEADER_SIZE:
                high, low, kind, flags, stream_id = unpack(buffer, pos)
                length = (high << 8) | low
                if length > f.DEFAULT_MAX_FRAME:
                    # We never raise SETTINGS_MAX_FRAME_SIZE, so the default is the peer's limit.
                    raise H2ProtocolError(f.FRAME_SIZE_ERROR, f"frame of {length} bytes")
                start = pos + f.HEADER_SIZE
                if end - start < length:
                    break
                pos = start + length
                self._frame(kind, flags, stream_id & 0x7FFFFFFF, bytes(buffer[start:pos]))
                if self._transport is None:
                    return
            del buffer[:pos]
        except (H2ProtocolError, HpackError) as error:
            code = error.code if isinstance(error, H2ProtocolError) else f.COMPRESSION_ERROR
            self._fail(code, str(error))

    # --- frames in

    def _frame(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self._continuing is not None and kind != f.CONTINUATION:
            raise H2ProtocolError(f.PROTOCOL_ERROR, "header block interrupted")
        if kind == f.DATA:
            self._data(flags, stream_id, payload)
        elif kind == f.HEADERS:
            self._headers(flags, stream_id, payload)
        elif kind == f.CONTINUATION:
            self._continuation(flags, stream_id, payload)
        elif kind == f.SETTINGS:
            self._settings(flags, stream_id, payload)
        elif kind == f.WINDOW_UPDATE:
            self._window_update(stream_id, payload)
        elif kind == f.PING:
            if stream_id or len(payload) != 8:
                raise H2ProtocolError(f.PROTOCOL_ERROR, "malformed PING")
            if not flags & f.ACK:
                self._write(f.frame(f.PING, f.ACK, 0, payload))
        elif kind == f.RST_STREAM:
            if not stream_id or len(payload) != 4:
                raise H2ProtocolError(f.PROTOCOL_ERROR, "malformed RST_STREAM")
            stream = self._streams.pop(stream_id, None)
            if stream is not None:
                stream.cancel()
                self._check_idle()
        elif kind == f.GOAWAY:
            self._closing = True  # the client opens no new stream; ours finish
        elif kind == f.PUSH_PROMISE:
            raise H2ProtocolError(f.PROTOCOL_ERROR, "a client cannot push")
        elif kind == f.PRIORITY and len(payload) != 5:
            raise H2ProtocolError(f.FRAME_SIZE_ERROR, "malformed PRIORITY")
        # Other types (PRIORITY, unknown extensions) are ignored, as RFC 9113 4.1 requires.

    def _data(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id:
            raise H2ProtocolError(f.PROTOCOL_ERROR, "DATA on stream 0")
        size = len(payload)
        if flags & f.PADDED:
            payload = unpad(payload)
        self._recv_unacked += size
        if self._recv_unacked > RECEIVE_WINDOW:
            raise H2ProtocolError(f.FLOW_CONTROL_ERROR, "DATA beyond the connection window")
        updates = b""
        if self._recv_unacked >= RECEIVE_WINDOW // 2:
            updates = f.window_update(0, self._recv_unacked)
            self._recv_unacked = 0
        stream = self._streams.get(stream_id)
        if stream is None:
            if stream_id > self._last_stream_id:
                raise H2ProtocolError(f.PROTOCOL_ERROR, "DATA on an idle stream")
            # A stream we already answered or reset: its bytes only count for the connection.
            if updates:
                self._write(updates)
            return
        if stream.ended:
            raise H2ProtocolError(f.STREAM_CLOSED, "DATA after END_STREAM")
        stream.unacked += size
        if stream.unacked > RECEIVE_WINDOW:
            raise H2ProtocolError(f.FLOW_CONTROL_ERROR, "DATA beyond the stream window")
        if not stream.answered:
            stream.body += payload
            if len(stream.body) > self._max_message + wire.PREFIX_SIZE:
                self._answer(stream, wire.too_large(len(stream.body), self._max_message))
        if flags & f.END_STREAM:
            stream.ended = True
            if not stream.answered:
                self._start(stream)
        elif stream.unacked >= RECEIVE_WINDOW // 2:
            updates += f.window_update(stream_id, stream.unacked)
            stream.unacked = 0
        if updates:
            self._write(updates)

    def _headers(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id:
            raise H2ProtocolError(f.PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & f.PADDED:
            payload = unpad(payload)
        if flags & f.PRIORITY_FLAG:
            if len(payload) < 5:
                raise H2ProtocolError(f.FRAME_SIZE_ERROR, "HEADERS too short for its priority")
            payload = payload[5:]
        if flags & f.END_HEADERS:
            self._header_block(stream_id, flags, payload)
        else:
            self._continuing = (stream_id, flags, [payload])

    def _continuation(self, flags: int, stream_id: int, payload: bytes) -> None:
        if self._continuing is None or self._continuing[0] != stream_id:
            raise H2ProtocolError(f.PROTOCOL_ERROR, "CONTINUATION without its HEADERS")
        fragments = self._continuing[2]
        fragments.append(payload)
        if sum(len(fragment) for fragment in fragments) > _MAX_HEADER_BLOCK:
            raise H2ProtocolError(f.ENHANCE_YOUR_CALM, "header block too large")
        if flags & f.END_HEADERS:
            headers_flags = self._continuing[1]
            self._continuing = None
            self._header_block(stream_id, headers_flags, b"".join(fragments))

    def _header_block(self, stream_id: int, flags: int, block: bytes) -> None:
        # Decoded even for a stream we refuse: the dynamic table must see every block.
        headers = self._decoder.decode(block)
        stream = self._streams.get(stream_id)
        if stream is not None:  # trailers from the client end its stream
            if not flags & f.END_STREAM or stream.ended:
                raise H2ProtocolError(f.PROTOCOL_ERROR, "HEADERS in the middle of a stream")
            stream.ended = True
            if not stream.answered:
                self._start(stream)
            return
        if stream_id % 2 == 0 or stream_id <= self._last_stream_id:
            raise H2ProtocolError(f.PROTOCOL_ERROR, f"stream id {stream_id} not new and odd")
        self._last_stream_id = stream_id
        if self._closing:
            self._write(f.rst_stream(stream_id, f.REFUSED_STREAM))
            return
        if len(self._streams) >= MAX_CONCURRENT_STREAMS:
            self._write(f.rst_stream(stream_id, f.REFUSED_STREAM))
            return
        stream = Stream(stream_id, self._peer_initial_window, headers)
        self._streams[stream_id] = stream
        self.idle.clear()
        refusal = wire.check_request(headers)
        if refusal is not None:
            self._answer(stream, refusal)
        elif flags & f.END_STREAM:
            stream.ended = True
            self._start(stream)

    def _settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise H2ProtocolError(f.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & f.ACK:
            if payload:
                raise H2ProtocolError(f.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise H2ProtocolError(f.FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6")
        for key, value in f.parse_settings(payload):
            if key == f.SETTINGS_INITIAL_WINDOW_SIZE:
                if value > f.MAX_WINDOW:
                    raise H2ProtocolError(f.FLOW_CONTROL_ERROR, "initial window too large")
                delta = value - self._peer_initial_window
                self._peer_initial_window = value
                for stream in self._streams.values():
                    stream.send_window += delta
            elif key == f.SETTINGS_MAX_FRAME_SIZE:
                if not f.DEFAULT_MAX_FRAME <= value <= 2**24 - 1:
                    raise H2ProtocolError(f.PROTOCOL_ERROR, "invalid SETTINGS_MAX_FRAME_SIZE")
                self._outbound.max_frame = value
        # Our encoder never indexes, so the peer's header table size does not concern us.
        self._write(f.SETTINGS_ACK)
        self._outbound.unblock(self._streams)

    def _window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise H2ProtocolError(f.FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong length")
        increment = f.u32(payload)
        if not increment:
            raise H2ProtocolError(f.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
        if not stream_id:
            self._outbound.window += increment
            if self._outbound.window > f.MAX_WINDOW:
                raise H2ProtocolError(f.FLOW_CONTROL_ERROR, "connection window overflow")
        else:
            stream = self._streams.get(stream_id)
            if stream is None:
                return
            stream.send_window += increment
            if stream.send_window > f.MAX_WINDOW:
                raise H2ProtocolError(f.FLOW_CONTROL_ERROR, "stream window overflow")
        self._outbound.unblock(self._streams)

    # --- calls

    def _start(self, stream: Stream) -> None:
        path = stream.path()
        handler = self._methods.get(path)
        if handler is None:
            self._answer(stream, wire.unimplemented(path))
            return
        message = wire.unary_message(stream.body)
        if isinstance(message, wire.Reply):
            self._answer(stream, message)
            return
        stream.body = bytearray()
        stream.task = self._loop.create_task(self._call(stream, handler, message))
        timeout = wire.timeout_seconds(stream.headers)
        if timeout is not None:
            stream.timer = self._loop.call_later(timeout, self._expire, stream)

    async def _call(self, stream: Stream, handler: Handler, message: bytes) -> None:
        try:
            reply = await handler(message, stream.headers)
        except asyncio.CancelledError:
            return  # reset by the client, its deadline passed, or the connection is gone
        except Exception as error:
            # A bug, not bad input: the traceback goes to the log, never to the client.
            path = stream.path().decode("ascii", "replace")
            log.error("unhandled error in %s", path, exc_info=error)
            reply = wire.internal()
        if stream.timer is not None:
            stream.timer.cancel()
        if self._streams.get(stream.stream_id) is stream:
            self._answer(stream, reply)

    def _expire(self, stream: Stream) -> None:
        if self._streams.get(stream.stream_id) is stream and not stream.answered:
            if stream.task is not None:
                stream.task.cancel()
            self._answer(stream, wire.deadline_exceeded())

    # --- streams done

    def _finish(self, stream: Stream) -> None:
        """Our side of the stream is closed; if the client's is not, tell it we want no more."""
        if stream.timer is not None:
            stream.timer.cancel()
        if not stream.ended:
            self._write(f.rst_stream(stream.stream_id, f.NO_ERROR))
        self._streams.pop(stream.stream_id, None)
        self._check_idle()

    def _check_idle(self) -> None:
        if not self._streams:
            self.idle.set()

    def _fail(self, code: int, reason: str) -> None:
        log.info("closing an HTTP/2 connection: %s", reason)
        self._write(f.goaway(self._last_stream_id, code, reason.encode()[:256]))
        self.close()

    def goaway(self) -> None:
        """Shutdown: no new streams; the ones in flight finish (RFC 9113 6.8)."""
        if not self._closing:
            self._closing = True
            self._write(f.goaway(self._last_stream_id, f.NO_ERROR))

    def close(self) -> None:
        self._outbound.flush()
        if self._transport is not None:
            self._transport.close()
