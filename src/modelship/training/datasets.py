"""Where training data comes from: scikit-learn's bundled datasets, local CSV, http(s) CSV.

Every source yields a `Table` of named columns plus the digest of what was read, so the digest
recorded with a version identifies the exact data it was trained on. Failures are classified for
the operator: a wrong URI or a missing file is bad input, a network failure is transient. The
reading itself (file or download, byte cap, deadline) is `modelship.sources`, shared with the
monitor's label files; the wording and the classification of its failures are here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np
import numpy.typing as npt

from modelship import sources
from modelship.sources import Failure, SourceError
from modelship.training import synthetic
from modelship.training.errors import BadInput, TrainerError, Transient
from modelship.training.tables import parse_csv

BUILTIN_LOADERS = ("iris", "wine", "breast_cancer", "digits", "diabetes", synthetic.NAME)
BUILTIN_TARGET = "target"


@dataclass(frozen=True)
class Table:
    """Columns by name, in file order. CSV columns hold strings; builtin ones numbers."""

    columns: dict[str, npt.NDArray[np.generic]]
    digest: str

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


@dataclass(frozen=True)
class HttpLimits:
    max_bytes: int
    timeout_seconds: float


def load_table(uri: str, limits: HttpLimits) -> Table:
    scheme = urlparse(uri).scheme
    if scheme == "builtin":
        return _builtin(uri.removeprefix("builtin:"))
    if scheme == "file":
        return _csv_table(_read_file(uri, limits))
    if scheme in ("http", "https"):
        return _csv_table(_download(uri, limits))
    raise BadInput(
        "InvalidDataset", f"unsupported dataset URI {uri!r}: use builtin:, file:// or http(s)://"
    )


def stream_source(uri: str, limits: HttpLimits, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """The raw bytes of a file:// or http(s):// CSV in chunks, never all at once (batch scoring
    reads inputs larger than its memory); the same errors as `load_table`."""
    scheme = urlparse(uri).scheme
    if scheme == "file":
        return _file_chunks(uri, limits, chunk_bytes)
    if scheme in ("http", "https"):
        return _download_chunks(uri, limits)
    raise BadInput(
        "InvalidDataset", f"dataset URI {uri!r} cannot be streamed: use file:// or http(s)://"
    )


def _builtin(name: str) -> Table:
    from sklearn import datasets

    if name == synthetic.NAME:
        # Generated, not bundled: text cells like a CSV's, the target under the builtin name.
        generated = synthetic.churn_table()
        generated[BUILTIN_TARGET] = generated.pop(synthetic.TARGET)
        digest = hashlib.sha256(synthetic.to_csv(generated)).hexdigest()
        return Table(columns=dict(generated), digest="sha256:" + digest)
    if name not in BUILTIN_LOADERS:
        raise BadInput(
            "DatasetNotFound",
            f"unknown builtin dataset {name!r}; available: {', '.join(BUILTIN_LOADERS)}",
        )
    bunch = getattr(datasets, f"load_{name}")()
    names = [str(n) for n in bunch.feature_names]
    data = np.asarray(bunch.data, dtype=np.float64)
    columns: dict[str, npt.NDArray[np.generic]] = {n: data[:, i] for i, n in enumerate(names)}
    columns[BUILTIN_TARGET] = np.asarray(bunch.target)
    hasher = hashlib.sha256(f"builtin:{name}\n{','.join(names)}\n".encode())
    hasher.update(np.ascontiguousarray(data).tobytes())
    hasher.update(np.ascontiguousarray(bunch.target).tobytes())
    return Table(columns=columns, digest="sha256:" + hasher.hexdigest())


def _csv_table(raw: bytes) -> Table:
    return Table(columns=parse_csv(raw), digest="sha256:" + hashlib.sha256(raw).hexdigest())


def _read_file(uri: str, limits: HttpLimits) -> bytes:
    return b"".join(_file_chunks(uri, limits, 1 << 20))


def _download(uri: str, limits: HttpLimits) -> bytes:
    return b"".join(_download_chunks(uri, limits))


def _file_chunks(uri: str, limits: HttpLimits, chunk_bytes: int) -> Iterator[bytes]:
    try:  # the file is opened at the call: a missing one fails here, not at the first chunk
        return _reworded(sources.file_chunks(uri, chunk_bytes), limits)
    except SourceError as err:
        raise _dataset_error(err, limits) from err.__cause__


def _download_chunks(uri: str, limits: HttpLimits) -> Iterator[bytes]:
    chunks = sources.download_chunks(uri, limits.max_bytes, limits.timeout_seconds)
    return _reworded(chunks, limits)


def _reworded(chunks: Iterator[bytes], limits: HttpLimits) -> Iterator[bytes]:
    try:
        yield from chunks
    except SourceError as err:
        raise _dataset_error(err, limits) from err.__cause__


def _dataset_error(err: SourceError, limits: HttpLimits) -> TrainerError:
    """A reading failure classified for the operator: bad input or transient."""
    where, cause = err.where, err.__cause__
    match err.failure:
        case Failure.NOT_LOCAL:
            return BadInput("InvalidDataset", f"file URI must be local (file:///path): {where}")
        case Failure.MISSING:
            return BadInput("DatasetNotFound", f"dataset file {where} does not exist")
        case Failure.DIRECTORY:
            return BadInput("InvalidDataset", f"dataset path {where} is a directory")
        case Failure.FORBIDDEN:
            return BadInput("DatasetNotFound", f"dataset file {where} is not readable")
        case Failure.UNOPENABLE | Failure.UNREADABLE:
            return Transient("DatasetUnavailable", f"cannot read dataset file {where}: {cause}")
        case Failure.HTTP_STATUS:
            return _status_error(where, err.status)
        case Failure.TOO_LARGE:
            return BadInput(
                "DatasetTooLarge", f"{where} is larger than the {limits.max_bytes}-byte limit"
            )
        case Failure.TOO_SLOW:
            return Transient(
                "DatasetUnavailable",
                f"downloading {where} took longer than {limits.timeout_seconds:g}s",
            )
        case Failure.INVALID_URL:
            return BadInput("InvalidDataset", f"invalid dataset URL {where}: {cause}")
        case Failure.TOO_MANY_REDIRECTS:
            return BadInput("DatasetNotFound", f"too many redirects fetching {where}")
        case Failure.DOWNLOAD_FAILED:
            return Transient("DatasetUnavailable", f"cannot download {where}: {cause!r}")


def _status_error(uri: str, status: int) -> TrainerError:
    # Client errors will not fix themselves (except "slow down" and "timed out"); server errors may.
    if status < 500 and status not in (408, 429):
        return BadInput("DatasetNotFound", f"downloading {uri} failed with HTTP {status}")
    return Transient("DatasetUnavailable", f"downloading {uri} failed with HTTP {status}")
