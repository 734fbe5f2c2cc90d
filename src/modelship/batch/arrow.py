"""pyarrow's C CSV reader and writer for plain tables: no Python object per numeric cell.

Reading (`read_plain`): after the header (read and checked by `stream`, as always), a table
with no quote, no NUL and no carriage return outside a CRLF is read by pyarrow's CSV reader on
one thread, every column as the text written (no type guessing, no null markers, UTF-8
checked), blank lines skipped: the rows `csv.reader` reads from such text. Anything else -- a
quote, a row of the wrong width, invalid UTF-8 -- raises `NotPlain`
and `stream` reads the input again with its Python reader, which gives the same rows or names
the error as it always has. Rows stay pyarrow text until a column is asked for
(`TextColumns`): text columns (ids, passthrough, categories) become Python strings then, and a
numeric feature becomes one float64 array by pyarrow's cast when every cell of the window
casts. That cast accepts a subset of what Python's `float` reads and gives the same double for
each (a test fuzzes it), so the server decodes the same numbers it would from the text.

Writing (`csv_lines`, `float_texts`): output lines are joined in C. A float in
[1e-4, 1e10) that is not an integer is written by pyarrow's shortest round-trip formatting,
which there spells exactly what `repr` spells (tested); every other float (1.0, 1e-05, ...)
is written by `repr` itself, so the bytes are the Python writer's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from numpy.typing import NDArray

BLOCK_BYTES = 1 << 17
"""Bytes read and parsed at a time (and then held, with the rows kept)."""
POOL: pa.MemoryPool | None = None
"""Where pyarrow allocates the rows it reads (None: its default pool; a test measures it)."""


class NotPlain(Exception):  # noqa: N818 - a signal to read the input the other way, not an error
    """The input is not one pyarrow reads exactly as `csv.reader` does: read it in Python."""


def read_plain(
    source: BinaryIO, width: int, start: int, stop: int | None, *, keep: bool
) -> tuple[list[list[pa.Array]], int]:
    """Rows after the header: each column's pieces of rows [start, stop) (kept only when
    `keep`), and the rows read (up to `stop`). Raises `NotPlain` for what it cannot take.

    The bytes come a block of whole lines at a time, each parsed by one pyarrow call: the
    memory is one block and the kept rows (pyarrow's streaming reader reads blocks ahead)."""
    names = [f"c{i}" for i in range(width)]
    options = {
        "read_options": pacsv.ReadOptions(use_threads=False, column_names=names),
        "parse_options": pacsv.ParseOptions(
            quote_char=False, double_quote=False, escape_char=False,
            newlines_in_values=False, ignore_empty_lines=True,
        ),
        "convert_options": pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), null_values=[],
            strings_can_be_null=False, quoted_strings_can_be_null=False, check_utf8=True,
        ),
    }  # fmt: skip
    pieces: list[list[pa.Array]] = [[] for _ in range(width)]
    row, carry = 0, b""
    while stop is None or row < stop:
        chunk = source.read(BLOCK_BYTES)
        block = carry + chunk if carry else chunk
        end = len(block)
        if chunk:
            if (end := block.rfind(b"\n") + 1) == 0:
                carry = block
                continue
            carry = block[end:]
        returns = block.count(b"\r", 0, end)
        if (
            block.find(b'"', 0, end) >= 0
            or block.find(b"\x00", 0, end) >= 0
            or (returns and returns != block.count(b"\r\n", 0, end))
        ):
            raise NotPlain("a quote, a NUL or a carriage return outside a CRLF")
        if end - returns - block.count(b"\n", 0, end) > 0:  # not only blank lines
            try:
                table = pacsv.read_csv(
                    pa.py_buffer(memoryview(block)[:end]), memory_pool=POOL, **options
                )
            except pa.ArrowException as exc:
                raise NotPlain(str(exc)) from exc
            count = table.num_rows if stop is None else min(table.num_rows, stop - row)
            if keep and row + count > start:
                first = max(start - row, 0)
                for i in range(width):
                    pieces[i] += table.column(i).slice(first, count - first).chunks
            row += count
        if not chunk:
            break
    return pieces, row


class TextColumns(Mapping[str, NDArray[Any]]):
    """A window's columns as text: each a numpy array of `str` when asked for (made once),
    and `numbers` for a numeric feature's float64 array without a `str` per cell."""

    def __init__(self, header: list[str], pieces: list[list[pa.Array]], rows: int) -> None:
        self._text = {
            name: pa.chunked_array(column, pa.string())
            for name, column in zip(header, pieces, strict=True)
        }
        self._cells: dict[str, NDArray[Any]] = {}
        self._numbers: dict[tuple[str, frozenset[str]], NDArray[np.float64] | None] = {}
        self.rows = rows

    def __getitem__(self, name: str) -> NDArray[Any]:
        if name not in self._cells:
            self._cells[name] = np.asarray(self._text[name].to_numpy(), dtype=object)
        return self._cells[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._text)

    def __len__(self) -> int:
        return len(self._text)

    def numbers(self, name: str, missing: frozenset[str]) -> NDArray[np.float64] | None:
        """The column as float64 when pyarrow casts every cell and none (stripped) is in the
        missing vocabulary; None otherwise (the column then goes as text, chunk by chunk)."""
        if (name, missing) not in self._numbers:
            self._numbers[name, missing] = _cast(self._text[name], missing)
        return self._numbers[name, missing]


def _cast(text: pa.ChunkedArray, missing: frozenset[str]) -> NDArray[np.float64] | None:
    if (
        missing
        and pc.any(pc.is_in(pc.utf8_trim_whitespace(text), pa.array(sorted(missing)))).as_py()
    ):
        return None
    try:
        cast = pc.cast(text, pa.float64())
    except pa.ArrowInvalid:
        return None
    return np.asarray(cast.to_numpy(), dtype=np.float64)


def float_texts(values: NDArray[np.float64]) -> pa.Array:
    """Floats as `repr` writes them: pyarrow's text where it is `repr`'s, `repr` elsewhere."""
    texts = pc.cast(pa.array(values, pa.float64()), pa.string())
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):  # NaN and infinities: written by `repr`
        other = ~((magnitude >= 1e-4) & (magnitude < 1e10) & (values != np.trunc(values)))
    if not other.any():
        return texts
    spelled = list(map(float.__repr__, values[other].tolist()))
    return pc.replace_with_mask(texts, pa.array(other), pa.array(spelled, pa.string()))


def csv_lines(columns: list[pa.Array], last: str) -> bytes:
    """Rows of cells (text arrays of one length, none needing quotes) as CSV lines, each
    ending in `last` (a constant final cell) and a newline."""
    if not columns or len(columns[0]) == 0:
        return b""
    tail = pa.repeat(pa.scalar(last + "\n", pa.string()), len(columns[0]))
    lines = pc.binary_join_element_wise(*columns, tail, ",")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    offsets = offsets[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]].tobytes()
