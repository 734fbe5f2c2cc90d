"""Where training data comes from: scikit-learn's bundled datasets, local CSV, http(s) CSV.

Every source yields a `Table` of named columns plus the digest of what was read, so the digest
recorded with a version identifies the exact data it was trained on. Failures are classified for
the operator: a wrong URI or a missing file is bad input, a network failure is transient.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

import httpx
import numpy as np
import numpy.typing as npt

from modelship.training import synthetic
from modelship.training.errors import BadInput, Transient
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
        return _csv_table(_read_file(uri))
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
        return _file_chunks(uri, chunk_bytes)
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


def _read_file(uri: str) -> bytes:
    return b"".join(_file_chunks(uri, 1 << 20))


def _file_chunks(uri: str, chunk_bytes: int) -> Iterator[bytes]:
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise BadInput("InvalidDataset", f"file URI must be local (file:///path): {uri}")
    path = Path(unquote(parsed.path))
    try:
        handle = path.open("rb")
    except FileNotFoundError as exc:
        raise BadInput("DatasetNotFound", f"dataset file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise BadInput("InvalidDataset", f"dataset path {path} is a directory") from exc
    except PermissionError as exc:
        raise BadInput("DatasetNotFound", f"dataset file {path} is not readable") from exc
    except OSError as exc:
        raise Transient("DatasetUnavailable", f"cannot read dataset file {path}: {exc}") from exc
    return _chunks_of(handle, path, chunk_bytes)


def _chunks_of(handle: BinaryIO, path: Path, chunk_bytes: int) -> Iterator[bytes]:
    with handle:
        while True:
            try:
                chunk = handle.read(chunk_bytes)
            except OSError as exc:
                raise Transient(
                    "DatasetUnavailable", f"cannot read dataset file {path}: {exc}"
                ) from exc
            if not chunk:
                return
            yield chunk


def _download(uri: str, limits: HttpLimits) -> bytes:
    return b"".join(_download_chunks(uri, limits))


def _download_chunks(uri: str, limits: HttpLimits) -> Iterator[bytes]:
    """Stream the body with a byte cap and a wall-clock deadline (a slow drip must not hang us)."""
    deadline = time.monotonic() + limits.timeout_seconds
    try:
        with (
            httpx.Client(timeout=limits.timeout_seconds, follow_redirects=True) as client,
            client.stream("GET", uri) as response,
        ):
            _check_status(uri, response.status_code)
            declared = int(response.headers.get("content-length") or 0)
            if declared > limits.max_bytes:
                raise _too_large(uri, limits)
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limits.max_bytes:
                    raise _too_large(uri, limits)
                if time.monotonic() > deadline:
                    raise Transient(
                        "DatasetUnavailable",
                        f"downloading {uri} took longer than {limits.timeout_seconds:g}s",
                    )
                yield chunk
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise BadInput("InvalidDataset", f"invalid dataset URL {uri}: {exc}") from exc
    except httpx.TooManyRedirects as exc:
        raise BadInput("DatasetNotFound", f"too many redirects fetching {uri}") from exc
    except httpx.HTTPError as exc:
        raise Transient("DatasetUnavailable", f"cannot download {uri}: {exc!r}") from exc


def _check_status(uri: str, status: int) -> None:
    if status < 400:
        return
    # Client errors will not fix themselves (except "slow down" and "timed out"); server errors may.
    if status < 500 and status not in (408, 429):
        raise BadInput("DatasetNotFound", f"downloading {uri} failed with HTTP {status}")
    raise Transient("DatasetUnavailable", f"downloading {uri} failed with HTTP {status}")


def _too_large(uri: str, limits: HttpLimits) -> BadInput:
    return BadInput("DatasetTooLarge", f"{uri} is larger than the {limits.max_bytes}-byte limit")
