"""The bytes at a file:/// or http(s):// URI, in chunks, with a byte cap and a wall-clock deadline.

Two processes read files named by a URI: the trainer its dataset (and batch scoring its input),
the monitor its label files. They must read under the same rules -- a file URI is local, a
download has a byte cap and a deadline (a slow drip must not hang the Job), nothing is held in
memory at once -- so the transport is here, below both in the import layers, written once.

`HashingReader` turns the chunks into the binary stream a CSV reader wants while hashing them,
so the digest a caller records is of exactly the bytes it parsed.

What each caller says about a failure is its own (the trainer classifies it as bad input or
transient for the operator, the monitor reports it for that one label file), so every failure
here is a `SourceError` carrying a `Failure` kind and the facts, with the underlying exception as
its `__cause__`, and each caller words it.
"""

from __future__ import annotations

import enum
import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

import httpx


class Failure(enum.Enum):
    NOT_LOCAL = "a file URI names another host"
    MISSING = "the file does not exist"
    DIRECTORY = "the path is a directory"
    FORBIDDEN = "the file may not be read (permission)"
    UNOPENABLE = "the file could not be opened"
    UNREADABLE = "reading the open file failed"
    HTTP_STATUS = "the server answered with an error status"
    TOO_LARGE = "more bytes than the cap"
    TOO_SLOW = "the download outlasted the deadline"
    INVALID_URL = "the URL is malformed"
    TOO_MANY_REDIRECTS = "the server redirected too often"
    DOWNLOAD_FAILED = "the connection failed"


class SourceError(Exception):
    """What went wrong reading `where` (the URI, or for an open file its path)."""

    def __init__(self, failure: Failure, where: str, *, status: int = 0) -> None:
        super().__init__(f"{where}: {failure.value}" + (f" (HTTP {status})" if status else ""))
        self.failure = failure
        self.where = where
        self.status = status


def file_path(uri: str) -> Path:
    """The local path a file URI names; a file URI naming another host is refused."""
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise SourceError(Failure.NOT_LOCAL, uri)
    return Path(unquote(parsed.path))


def file_chunks(uri: str, chunk_bytes: int, max_bytes: int | None = None) -> Iterator[bytes]:
    """The file's bytes, `chunk_bytes` at a time. The file is opened now, so a missing one fails
    at the call, not at the first chunk; past `max_bytes` (if given) reading stops with an error."""
    path = file_path(uri)
    try:
        handle = path.open("rb")
    except FileNotFoundError as exc:
        raise SourceError(Failure.MISSING, str(path)) from exc
    except IsADirectoryError as exc:
        raise SourceError(Failure.DIRECTORY, str(path)) from exc
    except PermissionError as exc:
        raise SourceError(Failure.FORBIDDEN, str(path)) from exc
    except OSError as exc:
        raise SourceError(Failure.UNOPENABLE, str(path)) from exc
    return _read(handle, path, chunk_bytes, max_bytes)


def _read(handle: BinaryIO, path: Path, chunk_bytes: int, max_bytes: int | None) -> Iterator[bytes]:
    size = 0
    with handle:
        while True:
            try:
                chunk = handle.read(chunk_bytes)
            except OSError as exc:
                raise SourceError(Failure.UNREADABLE, str(path)) from exc
            if not chunk:
                return
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise SourceError(Failure.TOO_LARGE, str(path))
            yield chunk


def download_chunks(
    uri: str, max_bytes: int, timeout_seconds: float, chunk_bytes: int | None = None
) -> Iterator[bytes]:
    """The body, streamed (`chunk_bytes` at a time, or as it arrives), refused once it declares or
    delivers more than `max_bytes` or outlasts `timeout_seconds` in all. Redirects are followed."""
    deadline = time.monotonic() + timeout_seconds
    try:
        with (
            httpx.Client(timeout=timeout_seconds, follow_redirects=True) as client,
            client.stream("GET", uri) as response,
        ):
            if response.status_code >= 400:
                raise SourceError(Failure.HTTP_STATUS, uri, status=response.status_code)
            if int(response.headers.get("content-length") or 0) > max_bytes:
                raise SourceError(Failure.TOO_LARGE, uri)
            size = 0
            for chunk in response.iter_bytes(chunk_bytes):
                size += len(chunk)
                if size > max_bytes:
                    raise SourceError(Failure.TOO_LARGE, uri)
                if time.monotonic() > deadline:
                    raise SourceError(Failure.TOO_SLOW, uri)
                yield chunk
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError) as exc:
        raise SourceError(Failure.INVALID_URL, uri) from exc
    except httpx.TooManyRedirects as exc:
        raise SourceError(Failure.TOO_MANY_REDIRECTS, uri) from exc
    except httpx.HTTPError as exc:
        raise SourceError(Failure.DOWNLOAD_FAILED, uri) from exc


class HashingReader(io.RawIOBase):
    """Chunks as a raw binary stream (to wrap in a buffered text reader for the csv module),
    each hashed as it is handed out: the digest is of exactly the bytes parsed."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._hasher = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._hasher.update(chunk)
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def digest(self) -> str:
        """sha256 of every byte; the rest of the input (none, once parsed to its end) included."""
        for chunk in self._chunks:
            self._hasher.update(chunk)
        return "sha256:" + self._hasher.hexdigest()
