"""Read a shard's rows from the input without holding the input: one streamed pass.

The CSV comes in chunks (`training.datasets.stream_source`), every byte goes through the hash
that identifies the input, and the csv module parses rows one at a time: rows before the shard
are counted and dropped, rows in it are kept, and after the shard's last row the rest of the
input is only hashed, not parsed, so a shard's memory is its own rows whatever the input's
size. The hash still covers the whole input, so a shard refuses an input that changed since it
was planned (the planner makes the same pass, keeping no rows, to count them). The header
and row rules are the trainer's (`training.tables.parse_csv`), so a table the trainer reads,
batch reads the same way. Builtin datasets are small and in memory already; they are sliced.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelship.training.datasets import HttpLimits, load_table, stream_source
from modelship.training.errors import BadInput

Columns = dict[str, NDArray[Any]]
READ_BYTES = 1 << 18
"""Bytes read (and buffered) at a time: a few of these plus the shard's rows is the memory."""


@dataclass(frozen=True)
class Window:
    """Rows [start, start + rows) of the input, its header and the digest of all of it."""

    header: list[str]
    columns: Columns
    start: int
    digest: str
    total_rows: int | None
    """Rows in the whole input, when the pass parsed to the end (planning)."""

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


class _HashingReader(io.RawIOBase):
    """Chunks as a raw binary stream, hashing each byte the moment it is handed out."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self.hasher = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self.hasher.update(chunk)
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def drain(self) -> str:
        """Hash what is left unread; the digest of the whole input."""
        for chunk in self._chunks:
            self.hasher.update(chunk)
        return "sha256:" + self.hasher.hexdigest()


def scan(uri: str, limits: HttpLimits) -> Window:
    """Every row parsed and counted, none kept: the planner's pass (header, rows, digest)."""
    return _pass(uri, limits, 0, None, keep=False)


def read_window(uri: str, limits: HttpLimits, start: int, stop: int) -> Window:
    """Rows [start, stop) of the input (fewer at its end); parsing stops after `stop`."""
    return _pass(uri, limits, start, stop, keep=True)


def _pass(uri: str, limits: HttpLimits, start: int, stop: int | None, *, keep: bool) -> Window:
    if uri.startswith("builtin:"):  # small, and in memory whatever we do
        table = load_table(uri, limits)
        end = table.rows if stop is None else min(stop, table.rows)
        columns = {n: c[start:end] if keep else c[:0] for n, c in table.columns.items()}
        return Window(list(table.columns), columns, start, table.digest, table.rows)
    raw = _HashingReader(stream_source(uri, limits, READ_BYTES))
    text = io.TextIOWrapper(io.BufferedReader(raw, READ_BYTES), encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    header = _header(reader)
    kept: list[list[str]] = []
    row = 0
    try:
        for fields in reader:
            if stop is not None and row >= stop:
                break
            if not fields:
                continue  # a blank line, as the trainer skips it
            if len(fields) != len(header):
                raise BadInput(
                    "InvalidDataset",
                    f"line {reader.line_num} has {len(fields)} fields, the header has "
                    f"{len(header)}",
                )
            if keep and row >= start:
                kept.append(fields)
            row += 1
    except (csv.Error, UnicodeDecodeError) as exc:
        raise BadInput("InvalidDataset", f"dataset is not valid CSV: {exc}") from exc
    if stop is None and row == 0:
        raise BadInput("InvalidDataset", "dataset has a header but no rows")
    cells = np.array(kept, dtype=object).reshape(len(kept), len(header))
    columns = {name: cells[:, i] for i, name in enumerate(header)}
    return Window(header, columns, start, raw.drain(), row if stop is None else None)


def _header(reader: Any) -> list[str]:
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise BadInput("InvalidDataset", "dataset is empty") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise BadInput("InvalidDataset", f"dataset is not valid CSV: {exc}") from exc
    if any(not name for name in header):
        raise BadInput("InvalidDataset", "dataset header has an empty column name")
    if len(set(header)) != len(header):
        dupes = sorted({n for n in header if header.count(n) > 1})
        raise BadInput("InvalidDataset", f"dataset header repeats column(s) {', '.join(dupes)}")
    return header
