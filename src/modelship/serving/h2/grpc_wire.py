"""gRPC over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md): what a call's headers, messages and
trailers look like, independent of how frames are read and written.

A reply is either a message and OK trailers, or "trailers-only" (one HEADERS frame with the
status, for every refusal). Header blocks are HPACK literals without indexing, so the bytes of
the common ones are computed once here.
"""

from __future__ import annotations

import struct
from typing import NamedTuple
from urllib.parse import quote

from modelship.serving.h2.hpack import Header, encode_indexed, encode_literal

PREFIX_SIZE = 5  # compressed flag and big-endian length before every message
_PREFIX = struct.Struct(">BI")

# Status codes (grpc/grpc doc/statuscodes.md).
OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
RESOURCE_EXHAUSTED = 8
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14

_STATUS_200 = encode_indexed(8)
_CONTENT_TYPE = encode_literal(b"content-type", b"application/grpc")
RESPONSE_HEADERS = _STATUS_200 + _CONTENT_TYPE
_OK_TRAILERS = encode_literal(b"grpc-status", b"0")
# Percent-encoding of grpc-message: printable ASCII except '%' stays as is.
_MESSAGE_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if c != ord("%"))
_TIMEOUT_UNITS = {
    ord("H"): 3600.0,
    ord("M"): 60.0,
    ord("S"): 1.0,
    ord("m"): 1e-3,
    ord("u"): 1e-6,
    ord("n"): 1e-9,
}


class Reply(NamedTuple):
    """`body` is the DATA payload (prefixed message), None for a trailers-only reply; `block`
    is the trailers' header block, or for trailers-only the whole response's."""

    body: bytes | None
    block: bytes
    status: int


def ok(message: bytes) -> Reply:
    return Reply(_PREFIX.pack(0, len(message)) + message, _OK_TRAILERS, OK)


def error(status: int, message: str) -> Reply:
    """A trailers-only reply: the status and a human-readable reason."""
    block = RESPONSE_HEADERS + encode_literal(b"grpc-status", str(status).encode())
    if message:
        encoded = quote(message, safe=_MESSAGE_SAFE).encode("ascii")
        block += encode_literal(b"grpc-message", encoded)
    return Reply(None, block, status)


def unimplemented(path: bytes) -> Reply:
    return error(UNIMPLEMENTED, f"Method not found: {path.decode('ascii', 'replace')}")


def internal() -> Reply:
    return error(INTERNAL, "internal server error")


def deadline_exceeded() -> Reply:
    return error(DEADLINE_EXCEEDED, "Deadline Exceeded")


def too_large(received: int, limit: int) -> Reply:
    return error(
        RESOURCE_EXHAUSTED,
        f"Received message larger than max ({received - PREFIX_SIZE} vs. {limit})",
    )


def check_request(headers: list[Header]) -> Reply | None:
    """A refusal for a request that is not a gRPC call we can serve, else None."""
    method = content_type = encoding = None
    for name, value in headers:
        if name == b":method":
            method = value
        elif name == b"content-type":
            content_type = value
        elif name == b"grpc-encoding":
            encoding = value
    if method != b"POST":
        return error(UNIMPLEMENTED, "gRPC requires POST")
    if content_type is None or not content_type.startswith(b"application/grpc"):
        return error(UNKNOWN, "content-type is not application/grpc")
    if encoding not in (None, b"identity"):
        # We advertise no grpc-accept-encoding, so a client has no reason to compress.
        return error(UNIMPLEMENTED, f"message encoding {encoding!r} is not supported")
    return None


def unary_message(body: bytearray) -> bytes | Reply:
    """The one message of a unary request, or the refusal of a body that is not one."""
    if len(body) < PREFIX_SIZE:
        return error(INTERNAL, "request has no complete message")
    compressed, length = _PREFIX.unpack_from(body)
    if compressed:
        return error(UNIMPLEMENTED, "compressed messages are not supported")
    if len(body) != PREFIX_SIZE + length:
        return error(UNIMPLEMENTED, "a unary method takes exactly one message")
    return bytes(body[PREFIX_SIZE:])


def timeout_seconds(headers: list[Header]) -> float | None:
    """The call's grpc-timeout (at most 8 digits and a unit), or None without a valid one."""
    for name, value in headers:
        if name == b"grpc-timeout":
            digits = value[:-1]
            unit = _TIMEOUT_UNITS.get(value[-1]) if value else None
            if unit is None or not digits.isdigit() or len(digits) > 8:
                return None
            return int(digits) * unit
    return None
