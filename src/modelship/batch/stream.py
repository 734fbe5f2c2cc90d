"""Read a shard's rows from the input without holding the input: one streamed pass.

The CSV comes in chunks (`training.datasets.stream_source`), every byte goes through the hash
that identifies the input, and rows are read a block at a time: by pyarrow's C reader when
the input has no quoting (`batch.arrow`; its rows stay pyarrow text until a column is used),
else by splitting text blocks (`_blocks`: in C where a block has no quoting, else by the csv
module) -- the input is read again from the start when pyarrow meets what it cannot take, so a
malformed row is named as before. Rows before the shard
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelship.batch import arrow
from modelship.training.datasets import HttpLimits, load_table, stream_source
from modelship.training.errors import BadInput

Columns = Mapping[str, NDArray[Any]]
READ_BYTES = 1 << 18
"""Bytes read (and buffered) at a time: a few of these plus the shard's rows is the memory."""
_TEXT_CHARS = 1 << 15
"""Characters split at a time on the fast path (the block and its pieces are held at once)."""
_PARSED_ROWS = 2048
"""Rows per block on the `csv.reader` path."""


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
        if isinstance(self.columns, arrow.TextColumns):
            return self.columns.rows
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
    if keep:  # the planner keeps no cells: counting lines in `_blocks` is faster than parsing
        try:
            return _plain_pass(uri, limits, start, stop, keep=keep)
        except arrow.NotPlain:
            pass  # read again, by the csv module's rules (which name what is wrong, if anything)
    raw = _HashingReader(stream_source(uri, limits, READ_BYTES))
    text = io.TextIOWrapper(io.BufferedReader(raw, READ_BYTES), encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    header = _header(reader)
    width = len(header)
    kept: list[list[str]] = []
    row = 0
    try:
        for block in _blocks(text, width, reader.line_num, cells=keep):
            count = block.rows if stop is None else min(block.rows, stop - row)
            if keep and row + count > start:
                first = max(start - row, 0)
                kept.append(block.cells[first * width : count * width])
            row += count
            if stop is not None and row >= stop:
                break
    except (csv.Error, UnicodeDecodeError) as exc:
        raise BadInput("InvalidDataset", f"dataset is not valid CSV: {exc}") from exc
    if stop is None and row == 0:
        raise BadInput("InvalidDataset", "dataset has a header but no rows")
    flat = list(chain.from_iterable(kept)) if len(kept) != 1 else kept[0]
    cells = np.array(flat, dtype=object).reshape(-1, width)
    columns = {name: cells[:, i] for i, name in enumerate(header)}
    return Window(header, columns, start, raw.drain(), row if stop is None else None)


def _plain_pass(
    uri: str, limits: HttpLimits, start: int, stop: int | None, *, keep: bool
) -> Window:
    """`_pass` by pyarrow's reader (`batch.arrow`), for a header and rows it reads exactly as
    the csv module does; `arrow.NotPlain` for anything else (the caller reads again)."""
    raw = _HashingReader(stream_source(uri, limits, READ_BYTES))
    source = io.BufferedReader(raw, READ_BYTES)
    first = source.readline()
    if any(c in first for c in (b'"', b"\x00")) or first.rstrip(b"\r\n").count(b"\r"):
        raise arrow.NotPlain("the header is not plain")
    try:
        line = first.decode("utf-8-sig").rstrip("\n").removesuffix("\r")
    except UnicodeDecodeError as exc:
        raise arrow.NotPlain("the header is not UTF-8") from exc
    if not line:
        raise arrow.NotPlain("no header")
    header = _header(iter([line.split(",")]))
    pieces, row = arrow.read_plain(source, len(header), start, stop, keep=keep)
    if stop is None and row == 0:
        raise BadInput("InvalidDataset", "dataset has a header but no rows")
    columns = arrow.TextColumns(header, pieces, max(row - start, 0) if keep else 0)
    return Window(header, columns, start, raw.drain(), row if stop is None else None)


@dataclass(frozen=True)
class _Block:
    """Consecutive rows: their cells one after another (empty when not kept), and how many."""

    cells: list[str]
    rows: int


def _blocks(text: io.TextIOWrapper, width: int, line: int, *, cells: bool) -> Iterator[_Block]:
    """The rows after the header, a block of text at a time, as `csv.reader` reads them.

    A block without a quote, a NUL or a carriage return outside a CRLF holds one row per
    non-blank line and one cell per comma-separated piece: it is split with `str.split`, in C,
    not parsed cell by cell. From the first block with any of those the rest goes through
    `csv.reader` (the same rules as the trainer's, by construction: the same reader). `line`
    counts the lines read so far, so an error names the line as `csv.reader` would."""
    carry = ""
    while True:
        chunk = text.read(_TEXT_CHARS)
        block = carry + chunk
        if not chunk:  # the end: what is left is one last line, without its newline
            carry = ""
        elif (cut := block.rfind("\n")) < 0:
            carry = block
            continue
        else:
            block, carry = block[:cut], block[cut + 1 :]
        if not block and not chunk:
            return
        plain = _plain(block, cut=bool(chunk))
        if plain is None:
            rest = block + ("\n" + carry + text.readline() if chunk else "")
            yield from _parsed(csv.reader(chain(io.StringIO(rest, newline=""), text)), width, line)
            return
        lines = plain.split("\n")
        dense = [piece for piece in lines if piece] if "" in lines else lines
        if set(map(str.count, dense, repeat(","))) - {width - 1}:
            # The rows before the bad line first: a window that ends before it never sees it.
            bad = next(i for i, p in enumerate(lines) if p and p.count(",") != width - 1)
            if good := [piece for piece in lines[:bad] if piece]:
                yield _Block(",".join(good).split(",") if cells else [], len(good))
            raise _width_error(line + bad + 1, lines[bad].count(",") + 1, width)
        line += len(lines)
        if dense:
            yield _Block(",".join(dense).split(",") if cells else [], len(dense))
        if not chunk:
            return


def _plain(block: str, *, cut: bool) -> str | None:
    """The block with `\\n` line ends, if `str.split` reads it as `csv.reader` does: no quote,
    no NUL, and carriage returns only as CRLF line ends (None: the csv module must read it).
    `cut`: the block ended at a `\\n` that was cut off (a final `\\r` was its CR)."""
    if '"' in block or "\x00" in block:
        return None
    if "\r" not in block:
        return block
    if cut and block.endswith("\r"):
        block = block[:-1]
    block = block.replace("\r\n", "\n")
    return None if "\r" in block else block


def _parsed(reader: Any, width: int, line: int) -> Iterator[_Block]:
    """Rows through `csv.reader`, in blocks of `_PARSED_ROWS` (blank lines skipped)."""
    rows: list[str] = []
    count = 0
    for fields in reader:
        if not fields:
            continue  # a blank line, as the trainer skips it
        if len(fields) != width:
            if count:  # the rows before it first, as on the fast path
                yield _Block(rows, count)
            raise _width_error(line + reader.line_num, len(fields), width)
        rows += fields
        count += 1
        if count == _PARSED_ROWS:
            yield _Block(rows, count)
            rows, count = [], 0
    if count:
        yield _Block(rows, count)


def _width_error(line: int, fields: int, width: int) -> BadInput:
    return BadInput("InvalidDataset", f"line {line} has {fields} fields, the header has {width}")


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
