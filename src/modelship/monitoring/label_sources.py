"""The bytes of a label file at a URI, in chunks: file:///path or http(s)://.

The URIs are the trainer's dataset URIs, read by the same transport (`modelship.sources`): a
file URI is local, a download has a byte cap and a wall-clock deadline (a slow drip must not
hang the Job). Here the limits are the monitor's and every failure becomes a `LabelFileError`
whose message says what could not be read and why, which the evaluation reports for that file
and carries on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

from modelship import sources
from modelship.monitoring.label_files import LabelFileError
from modelship.sources import Failure, SourceError

CHUNK_BYTES = 1 << 18


@dataclass(frozen=True)
class SourceLimits:
    max_bytes: int = 1 << 30
    timeout_seconds: float = 600.0


def label_chunks(uri: str, limits: SourceLimits) -> Iterator[bytes]:
    """The file's bytes, `CHUNK_BYTES` at a time, never all at once."""
    scheme = urlparse(uri).scheme
    try:  # a file is opened at the call: a missing one fails here, not at the first chunk
        if scheme == "file":
            return _reworded(sources.file_chunks(uri, CHUNK_BYTES, limits.max_bytes), limits)
        if scheme in ("http", "https"):
            chunks = sources.download_chunks(
                uri, limits.max_bytes, limits.timeout_seconds, CHUNK_BYTES
            )
            return _reworded(chunks, limits)
    except SourceError as err:
        raise _label_error(err, limits) from None
    raise LabelFileError(f"unsupported label file URI {uri!r}: use file:/// or http(s)://")


def _reworded(chunks: Iterator[bytes], limits: SourceLimits) -> Iterator[bytes]:
    try:
        yield from chunks
    except SourceError as err:
        raise _label_error(err, limits) from None


def _label_error(err: SourceError, limits: SourceLimits) -> LabelFileError:
    where, cause = err.where, err.__cause__
    match err.failure:
        case Failure.NOT_LOCAL:
            return LabelFileError(f"a file URI must be local (file:///path): {where}")
        case Failure.MISSING:
            return LabelFileError(f"label file {where} does not exist")
        case Failure.DIRECTORY:
            return LabelFileError(f"label file {where} is a directory")
        case Failure.FORBIDDEN | Failure.UNOPENABLE:
            reason = cause.strerror if isinstance(cause, OSError) else None
            return LabelFileError(f"cannot open label file {where}: {reason or cause}")
        case Failure.UNREADABLE:
            return LabelFileError(f"cannot read label file {where}: {cause}")
        case Failure.HTTP_STATUS:
            return LabelFileError(f"downloading {where} failed with HTTP {err.status}")
        case Failure.TOO_LARGE:
            return LabelFileError(
                f"label file {where} is larger than the {limits.max_bytes}-byte limit"
            )
        case Failure.TOO_SLOW:
            return LabelFileError(
                f"downloading {where} took longer than {limits.timeout_seconds:g}s"
            )
        case Failure.INVALID_URL:
            return LabelFileError(f"invalid label file URL {where}: {cause}")
        case Failure.TOO_MANY_REDIRECTS | Failure.DOWNLOAD_FAILED:
            return LabelFileError(f"cannot download {where}: {cause!r}")
