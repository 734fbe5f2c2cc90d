"""A stream's state on our server, the connection error, and the frame helpers both the
receiving and the sending side of a connection use."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from modelship.serving.h2 import frames as f
from modelship.serving.h2.hpack import Header


class H2ProtocolError(Exception):
    """A connection error (RFC 9113 5.4.1): GOAWAY with `code`, then close."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(eq=False)
class Stream:
    stream_id: int
    send_window: int
    headers: list[Header] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    unacked: int = 0  # bytes received since our last WINDOW_UPDATE for this stream
    ended: bool = False  # the client sent END_STREAM
    answered: bool = False  # we sent (or queued) our trailers
    pending: bytes = b""  # DATA payload waiting for the peer's window
    trailers: bytes = b""  # sent after `pending`
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None

    def path(self) -> bytes:
        return next((value for name, value in self.headers if name == b":path"), b"")

    def cancel(self) -> None:
        """Stop its call and its deadline (reset by the client, or the connection is gone)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self.timer is not None:
            self.timer.cancel()


def headers_frame(stream_id: int, block: bytes, max_frame: int, end_stream: bool) -> bytes:
    """A header block as HEADERS and as many CONTINUATIONs as the peer's frame size needs."""
    flags = f.END_STREAM if end_stream else 0
    if len(block) <= max_frame:
        return f.frame(f.HEADERS, flags | f.END_HEADERS, stream_id, block)
    parts = [f.frame(f.HEADERS, flags, stream_id, block[:max_frame])]
    for start in range(max_frame, len(block), max_frame):
        last = start + max_frame >= len(block)
        chunk = block[start : start + max_frame]
        parts.append(f.frame(f.CONTINUATION, f.END_HEADERS if last else 0, stream_id, chunk))
    return b"".join(parts)


def unpad(payload: bytes) -> bytes:
    if not payload or payload[0] >= len(payload):
        raise H2ProtocolError(f.PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1 : len(payload) - payload[0]]
