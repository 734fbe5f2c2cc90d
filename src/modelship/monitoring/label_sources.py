"""The bytes of a label file at a URI, in chunks: file:///path or http(s)://.

The URIs are the trainer's dataset URIs (`training.datasets.stream_source`) under the same
rules: a file URI is local, a download has a byte cap and a wall-clock deadline (a slow drip
must not hang the Job), a 4xx is the file's fault and a 5xx the server's. The monitoring
package may not import the trainer (they are sibling processes in the import layers), so the
few lines of transport live here too; every failure is a `LabelFileError` whose message says
what could not be read and why, which the evaluation reports for that file and carries on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

import httpx

from modelship.monitoring.label_files import LabelFileError

CHUNK_BYTES = 1 << 18


@dataclass(frozen=True)
class SourceLimits:
    max_bytes: int = 1 << 30
    timeout_seconds: float = 600.0


def label_chunks(uri: str, limits: SourceLimits) -> Iterator[bytes]:
    """The file's bytes, `CHUNK_BYTES` at a time, never all at once."""
    scheme = urlparse(uri).scheme
    if scheme == "file":
        return _file_chunks(uri, limits)
    if scheme in ("http", "https"):
        return _download_chunks(uri, limits)
    raise LabelFileError(f"unsupported label file URI {uri!r}: use file:/// or http(s)://")


def _file_chunks(uri: str, limits: SourceLimits) -> Iterator[bytes]:
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise LabelFileError(f"a file URI must be local (file:///path): {uri}")
    path = Path(unquote(parsed.path))
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise LabelFileError(f"label file {path} does not exist") from None
    except IsADirectoryError:
        raise LabelFileError(f"label file {path} is a directory") from None
    except OSError as exc:
        raise LabelFileError(f"cannot open label file {path}: {exc.strerror or exc}") from None
    return _read(handle, path, limits)


def _read(handle: BinaryIO, path: Path, limits: SourceLimits) -> Iterator[bytes]:
    size = 0
    with handle:
        while True:
            try:
                chunk = handle.read(CHUNK_BYTES)
            except OSError as exc:
                raise LabelFileError(f"cannot read label file {path}: {exc}") from None
            if not chunk:
                return
            size += len(chunk)
            if size > limits.max_bytes:
                raise _too_large(str(path), limits)
            yield chunk


def _download_chunks(uri: str, limits: SourceLimits) -> Iterator[bytes]:
    deadline = time.monotonic() + limits.timeout_seconds
    try:
        with (
            httpx.Client(timeout=limits.timeout_seconds, follow_redirects=True) as client,
            client.stream("GET", uri) as response,
        ):
            if response.status_code >= 400:
                raise LabelFileError(f"downloading {uri} failed with HTTP {response.status_code}")
            if int(response.headers.get("content-length") or 0) > limits.max_bytes:
                raise _too_large(uri, limits)
            size = 0
            for chunk in response.iter_bytes(CHUNK_BYTES):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise _too_large(uri, limits)
                if time.monotonic() > deadline:
                    raise LabelFileError(
                        f"downloading {uri} took longer than {limits.timeout_seconds:g}s"
                    )
                yield chunk
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError) as exc:
        raise LabelFileError(f"invalid label file URL {uri}: {exc}") from None
    except httpx.HTTPError as exc:
        raise LabelFileError(f"cannot download {uri}: {exc!r}") from None


def _too_large(where: str, limits: SourceLimits) -> LabelFileError:
    return LabelFileError(f"label file {where} is larger than the {limits.max_bytes}-byte limit")
