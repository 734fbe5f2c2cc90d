"""A table's rows to predictions through online serving's own decoding, and to output lines.

Rows become the v2 document a client would send (one `[n]` tensor per feature, as the CSV or
the builtin loader holds it: text as `BYTES`, numbers as `FP64`), which `serving.scoring`
decodes and predicts exactly as the server does. A chunk the decoder refuses is split in halves
until the refused rows stand alone, so one bad row costs the run that row (with the decoder's
own reason), not its chunk.

Column at a time, not cell at a time: a numeric feature's text is parsed into one float64
array when every cell of the chunk is a number the server would read the same way (`Parsing`),
and goes as text otherwise (a window pyarrow read casts a whole column in C, without a `str`
per cell, when every cell casts: `batch.arrow.TextColumns`); output lines are built a column at
a time (`render`; CSV joined by pyarrow, floats spelled as `repr` spells them), falling back to
the csv module row by row for a chunk with a cell it would quote or a value JSON would spell
otherwise. The shortcuts give the same bytes and answers as the per-cell way (tested).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from modelship.batch.arrow import TextColumns, csv_lines, float_texts
from modelship.contracts.batch import ShardError
from modelship.serving import codec
from modelship.serving.errors import InvalidInputError
from modelship.serving.loader import LoadedVersion
from modelship.serving.scoring import predict_request

Columns = Mapping[str, NDArray[Any]]


@dataclass(frozen=True)
class Layout:
    """The output's columns: id, passthrough, prediction, proba_<class>..., model_version."""

    passthrough: tuple[str, ...]
    prediction: bool
    classes: tuple[str, ...]
    """Classes whose probabilities are written (empty: none)."""

    @property
    def header(self) -> list[str]:
        return [
            "id",
            *self.passthrough,
            *(["prediction"] if self.prediction else []),
            *(f"proba_{c}" for c in self.classes),
            "model_version",
        ]


def layout_for(loaded: LoadedVersion, passthrough: Sequence[str], include: Sequence[str]) -> Layout:
    classes = loaded.runtime.classes
    with_proba = "probabilities" in include and classes is not None
    return Layout(
        tuple(passthrough),
        "prediction" in include,
        tuple(_text(c) for c in classes.tolist()) if with_proba and classes is not None else (),
    )


@dataclass(frozen=True)
class Parsing:
    """Which features' text a batch request may carry as numbers, and what text is missing.

    A CSV cell is text; online it would be a `BYTES` cell, which the server reads with
    Python's `float` after numpy's text cast (an untyped model: `codec`), or strips, looks up
    in the missing vocabulary and then reads with `float` (a typed model's numeric feature:
    `typed_cells`). When every cell of a chunk's column is a `str` that `float` reads and none
    is (stripped) in the missing vocabulary, both come to the very floats `float` gives: numpy's
    cast differs from `float` only on trailing NULs, which `float` refuses (the column then goes
    as text). So the column can go as one FP64 array parsed in one numpy call, and the server's
    decoding (shape, finiteness, typed rules) runs on it as on any request."""

    numeric: frozenset[str]
    missing: frozenset[str]


def parsing_for(loaded: LoadedVersion) -> Parsing:
    """An untyped model's features are all numbers; a typed model's, all but its categories."""
    if loaded.features is None:
        return Parsing(frozenset(loaded.runtime.features), frozenset())
    schema = loaded.features.schema
    return Parsing(frozenset(schema.names) - schema.categorical, schema.missing)


def request_document(columns: Columns, features: Sequence[str], start: int, stop: int, *,
                     proba: bool, parsing: Parsing | None = None) -> dict[str, Any]:  # fmt: skip
    """Rows [start, stop) as the v2 request online clients send (`parsing`: numeric text as
    one FP64 array where it means the same, see `Parsing`)."""
    inputs = []
    for name in features:
        data: Any
        if (
            parsing is not None
            and name in parsing.numeric
            and isinstance(columns, TextColumns)
            and (numbers := columns.numbers(name, parsing.missing)) is not None
        ):  # the window's text cast by pyarrow: the floats `float` gives (see batch.arrow)
            inputs.append({"name": name, "datatype": "FP64", "shape": [stop - start],
                           "data": numbers[start:stop]})  # fmt: skip
            continue
        cells = columns[name][start:stop]
        if cells.dtype.kind in "fiub":
            data = [None if _nan(v) else v for v in cells.astype(np.float64).tolist()]
            datatype = "FP64"
        elif (
            parsing is not None
            and name in parsing.numeric
            and ((parsed := _parsed(cells, parsing.missing)) is not None)
        ):
            data, datatype = parsed, "FP64"
        else:
            data, datatype = [str(v) for v in cells.tolist()], "BYTES"
        inputs.append({"name": name, "datatype": datatype, "shape": [stop - start], "data": data})
    outputs = [{"name": codec.PREDICT}]
    if proba:
        outputs.append({"name": codec.PREDICT_PROBA})
    return {"inputs": inputs, "outputs": outputs}


def _parsed(cells: NDArray[Any], missing: frozenset[str]) -> NDArray[np.float64] | None:
    """The column's text as float64 when `float` reads every cell (None: send it as text)."""
    texts = cells.tolist()
    if set(map(type, texts)) != {str}:
        return None
    if missing and not missing.isdisjoint(map(str.strip, texts)):
        return None
    try:
        return cells.astype(np.float64)  # `float` on each cell, in C
    except (ValueError, TypeError):
        return None


@dataclass
class Scored:
    """Per scored row: its position, its label and its probabilities (or None).

    Probabilities are rows of `proba`, then the rows of `blocks` (the scorer keeps the
    server's arrays as they come); `probabilities()` is all of them as one array."""

    rows: list[int]
    labels: list[Any]
    proba: list[list[float]] | None
    errors: list[tuple[int, str]]
    blocks: list[NDArray[np.float64]] = field(default_factory=list)

    def probabilities(self) -> NDArray[np.float64] | None:
        if self.proba is None:
            return None
        parts = [np.asarray(self.proba, dtype=np.float64)] if self.proba else []
        parts += self.blocks
        if not parts:
            return np.empty((0, 0))
        return np.concatenate([p.reshape(len(p), -1) for p in parts])


def score_rows(
    loaded: LoadedVersion, columns: Columns, features: Sequence[str], start: int, stop: int,
    proba: bool, parsing: Parsing | None = None,
) -> Scored:  # fmt: skip
    """Score rows [start, stop); refused rows are isolated by halving, with the reason."""
    scored = Scored([], [], [] if proba else None, [])
    _score(loaded, columns, features, start, stop, proba, parsing, scored)
    return scored


def _score(loaded: LoadedVersion, columns: Columns, features: Sequence[str], start: int,
           stop: int, proba: bool, parsing: Parsing | None, into: Scored) -> None:  # fmt: skip
    if start >= stop:
        return
    document = request_document(columns, features, start, stop, proba=proba, parsing=parsing)
    try:
        prediction, _ = predict_request(loaded, document, stop - start)
    except InvalidInputError as error:
        if stop - start == 1:
            into.errors.append((start, error.message))
            return
        middle = (start + stop) // 2
        _score(loaded, columns, features, start, middle, proba, parsing, into)
        _score(loaded, columns, features, middle, stop, proba, parsing, into)
        return
    into.rows.extend(range(start, stop))
    into.labels.extend(prediction.labels.tolist())
    if into.proba is not None and prediction.proba is not None:
        into.blocks.append(prediction.proba)


def row_ids(columns: Columns, id_column: str | None, start: int, stop: int) -> list[str]:
    if id_column is None:
        return [str(i) for i in range(start, stop)]
    cells = columns[id_column][start:stop].tolist()
    return cells if set(map(type, cells)) <= {str} else [_text(v) for v in cells]


def render(
    layout: Layout, scored: Scored, ids: Sequence[str], passthrough: Columns, version: int,
    fmt: str,
) -> bytes:  # fmt: skip
    """Scored rows as output lines (no CSV header: assembly writes it once); `ids[row]` is the
    id of row position `row`."""
    if fmt == "csv" and scored.rows:
        arrays = _arrow_columns(layout, scored, ids, passthrough)
        if arrays is not None:
            return csv_lines(arrays, str(version))
    columns = _columns(layout, scored, ids, passthrough, version, fmt)
    if columns is None:
        return render_rows(layout, scored, ids, passthrough, version, fmt)
    if not scored.rows:
        return b""
    if fmt == "jsonl":
        keys = [json.dumps(name) for name in layout.header]
        pieces: list[Iterable[str]] = []
        for i, (key, column) in enumerate(zip(keys, columns, strict=True)):
            pieces += [repeat(("{" if i == 0 else ", ") + key + ": "), column]
        pieces.append(repeat("}"))
        lines = map("".join, zip(*pieces, strict=False))  # the repeats are endless
    else:
        lines = map(",".join, zip(*columns, strict=True))
    return ("\n".join(lines) + "\n").encode("utf-8")


_QUOTED = (",", '"', "\r", "\n", "\x00")
"""A CSV cell with any of these might be quoted or refused by the csv module: that chunk is
written row by row, by the csv module itself."""


def _columns(
    layout: Layout, scored: Scored, ids: Sequence[str], passthrough: Columns, version: int,
    fmt: str,
) -> list[list[str]] | None:  # fmt: skip
    """Each output column's cells as the per-row way writes them, or None where it cannot
    say (a CSV cell that needs quoting, a JSON value other than plain text, ints and finite
    floats)."""
    rows = scored.rows
    text = _json_texts if fmt == "jsonl" else _csv_texts
    texts: list[list[str] | None] = [text(list(map(ids.__getitem__, rows)))]
    where = np.asarray(rows, dtype=np.intp)
    for name in layout.passthrough:
        cells = passthrough[name][where].tolist()
        texts.append(text(cells if set(map(type, cells)) <= {str} else list(map(_text, cells))))
    if layout.prediction:
        texts.append(_values(scored.labels, fmt))
    proba = scored.probabilities()
    if layout.classes and proba is not None:
        texts += [_values(column.tolist(), fmt) for column in proba.T]
    texts.append([str(version)] * len(rows))
    return [column for column in texts if column is not None] if None not in texts else None


def _arrow_columns(
    layout: Layout, scored: Scored, ids: Sequence[str], passthrough: Columns
) -> list[pa.Array] | None:
    """`_columns` for CSV as pyarrow text (all but the version, which `csv_lines` adds): the
    same cells, floats spelled as `repr` spells them (`float_texts`); None where `_columns`
    must say."""
    rows = scored.rows
    texts = [_csv_texts(list(map(ids.__getitem__, rows)))]
    where = np.asarray(rows, dtype=np.intp)
    for name in layout.passthrough:
        cells = passthrough[name][where].tolist()
        texts.append(
            _csv_texts(cells if set(map(type, cells)) <= {str} else list(map(_text, cells)))
        )
    if None in texts:
        return None
    arrays = [pa.array(column, pa.string()) for column in texts]
    if layout.prediction:
        labels = _label_texts(scored.labels)
        if labels is None:
            return None
        arrays.append(labels)
    proba = scored.probabilities()
    if layout.classes and proba is not None:
        arrays += [float_texts(np.ascontiguousarray(column)) for column in proba.T]
    return arrays


def _label_texts(labels: list[Any]) -> pa.Array | None:
    """Labels as `_cell` writes them: ints and floats in C, text checked for quoting."""
    types = set(map(type, labels))
    if types <= {int}:
        try:
            return pa.array(labels, pa.int64()).cast(pa.string())
        except OverflowError:  # beyond 64 bits: `_columns` writes it
            return None
    if types <= {float}:
        return float_texts(np.asarray(labels, dtype=np.float64))
    if types <= {str}:
        texts = _csv_texts(labels)
        return None if texts is None else pa.array(texts, pa.string())
    return None


def _csv_texts(cells: list[str]) -> list[str] | None:
    joined = "".join(cells)
    return None if any(char in joined for char in _QUOTED) else cells


def _json_texts(cells: list[str]) -> list[str]:
    return list(map(_json_string, cells))


def _values(values: list[Any], fmt: str) -> list[str] | None:
    """Labels or probabilities: text, ints and floats, as `_cell` (CSV) or `json` spells them."""
    types = set(map(type, values))
    if types <= {str}:
        return _json_texts(values) if fmt == "jsonl" else _csv_texts(values)
    if types <= {int}:
        return list(map(int.__repr__, values))
    if types <= {float}:
        if fmt == "jsonl" and not all(map(math.isfinite, values)):
            return None  # json spells them NaN and Infinity
        return list(map(float.__repr__, values))
    return None


def render_rows(
    layout: Layout, scored: Scored, ids: Sequence[str], passthrough: Columns, version: int,
    fmt: str,
) -> bytes:  # fmt: skip
    """`render` a row at a time through the csv and json modules: what defines the bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    proba = scored.probabilities()
    for i, row in enumerate(scored.rows):
        values: list[Any] = [ids[row], *(_text(passthrough[c][row]) for c in layout.passthrough)]
        if layout.prediction:
            values.append(scored.labels[i])
        if layout.classes and proba is not None:
            values.extend(proba[i].tolist())
        values.append(version)
        if fmt == "jsonl":
            out.write(json.dumps(dict(zip(layout.header, values, strict=True))) + "\n")
        else:
            writer.writerow([_cell(v) for v in values])
    return out.getvalue().encode("utf-8")


def render_errors(
    errors: list[tuple[int, str]], ids: Sequence[str], offset: int = 0
) -> list[ShardError]:
    """Refused rows as the input numbers them (`offset`: the window's first row)."""
    return [ShardError(row=row + offset, id=ids[row], reason=reason) for row, reason in errors]


def header_line(layout: Layout, fmt: str) -> bytes:
    if fmt == "jsonl":
        return b""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(layout.header)
    return out.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
