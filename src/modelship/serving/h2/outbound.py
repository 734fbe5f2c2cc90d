"""The sending side of one connection: answers within the peer's flow-control windows.

Everything we send leaves through `write`, which queues bytes for one `transport.write` at the
end of the loop's turn, so the answers of a batch resolved together and the acknowledgements of
one read leave in one send. DATA goes out only within the peer's connection window and the
stream's; the rest waits in `blocked` until a WINDOW_UPDATE or SETTINGS lets it through
(RFC 9113 section 5.2).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from modelship.serving.h2 import frames as f
from modelship.serving.h2 import grpc_wire as wire
from modelship.serving.h2.streams import Stream, headers_frame


class Outbound:
    def __init__(self, loop: asyncio.AbstractEventLoop, finish: Callable[[Stream], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.window = f.DEFAULT_WINDOW  # the peer's connection window for our DATA
        self.max_frame = f.DEFAULT_MAX_FRAME  # the peer's SETTINGS_MAX_FRAME_SIZE
        self.blocked: list[Stream] = []  # streams with DATA waiting for a window
        self._finish = finish  # our side of a stream is done (trailers queued)
        self._loop = loop
        self._out: list[bytes] = []
        self._flush_scheduled = False

    def write(self, data: bytes) -> None:
        if data and self.transport is not None:
            self._out.append(data)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self.transport is not None:
            self.transport.write(b"".join(self._out) if len(self._out) > 1 else self._out[0])
        self._out.clear()

    def answer(self, stream: Stream, reply: wire.Reply) -> None:
        """Send a reply's HEADERS, DATA and trailers; DATA beyond the window waits for it."""
        stream.answered = True
        sid = stream.stream_id
        if reply.body is None:  # trailers-only
            self.write(headers_frame(sid, reply.block, self.max_frame, True))
            self._finish(stream)
            return
        out = headers_frame(sid, wire.RESPONSE_HEADERS, self.max_frame, False)
        stream.pending = reply.body
        stream.trailers = headers_frame(sid, reply.block, self.max_frame, True)
        self.write(out + self._drain(stream))
        if stream.pending:
            self.blocked.append(stream)

    def unblock(self, streams: Mapping[int, Stream]) -> None:
        """A window grew: send what now fits of the waiting answers still open in `streams`."""
        if not self.blocked:
            return
        blocked, self.blocked = self.blocked, []
        out = []
        for stream in blocked:
            if streams.get(stream.stream_id) is not stream:
                continue  # reset meanwhile
            out.append(self._drain(stream))
            if stream.pending:
                self.blocked.append(stream)
        self.write(b"".join(out))

    def _drain(self, stream: Stream) -> bytes:
        """The DATA frames (and trailers, once all DATA is out) the windows allow now."""
        out: list[bytes] = []
        pending = stream.pending
        while pending:
            size = min(len(pending), self.window, stream.send_window, self.max_frame)
            if size <= 0:
                break
            out.append(f.frame(f.DATA, 0, stream.stream_id, pending[:size]))
            pending = pending[size:]
            self.window -= size
            stream.send_window -= size
        stream.pending = pending
        if not pending:
            out.append(stream.trailers)
            self._finish(stream)
        return b"".join(out)
