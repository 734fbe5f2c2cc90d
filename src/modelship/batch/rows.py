"""A table's rows to predictions through online serving's own decoding, and to output lines.

Rows become the v2 document a client would send (one `[n]` tensor per feature, as the CSV or
the builtin loader holds it: text as `BYTES`, numbers as `FP64`), which `serving.scoring`
decodes and predicts exactly as the server does. A chunk the decoder refuses is split in halves
until the refused rows stand alone, so one bad row costs the run that row (with the decoder's
own reason), not its chunk.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelship.contracts.batch import ShardError
from modelship.serving import codec
from modelship.serving.errors import InvalidInputError
from modelship.serving.loader import LoadedVersion
from modelship.serving.scoring import predict_request

Columns = dict[str, NDArray[Any]]


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


def request_document(columns: Columns, features: Sequence[str], start: int, stop: int, *,
                     proba: bool) -> dict[str, Any]:  # fmt: skip
    """Rows [start, stop) as the v2 request online clients send."""
    inputs = []
    for name in features:
        cells = columns[name][start:stop]
        if cells.dtype.kind in "fiub":
            data: list[Any] = [None if _nan(v) else v for v in cells.astype(np.float64).tolist()]
            datatype = "FP64"
        else:
            data, datatype = [str(v) for v in cells.tolist()], "BYTES"
        inputs.append({"name": name, "datatype": datatype, "shape": [stop - start], "data": data})
    outputs = [{"name": codec.PREDICT}]
    if proba:
        outputs.append({"name": codec.PREDICT_PROBA})
    return {"inputs": inputs, "outputs": outputs}


@dataclass
class Scored:
    """Per scored row: its position, its label and its probabilities (or None)."""

    rows: list[int]
    labels: list[Any]
    proba: list[list[float]] | None
    errors: list[tuple[int, str]]


def score_rows(
    loaded: LoadedVersion, columns: Columns, features: Sequence[str], start: int, stop: int,
    proba: bool,
) -> Scored:  # fmt: skip
    """Score rows [start, stop); refused rows are isolated by halving, with the reason."""
    scored = Scored([], [], [] if proba else None, [])
    _score(loaded, columns, features, start, stop, proba, scored)
    return scored


def _score(loaded: LoadedVersion, columns: Columns, features: Sequence[str], start: int,
           stop: int, proba: bool, into: Scored) -> None:  # fmt: skip
    if start >= stop:
        return
    document = request_document(columns, features, start, stop, proba=proba)
    try:
        prediction, _ = predict_request(loaded, document, stop - start)
    except InvalidInputError as error:
        if stop - start == 1:
            into.errors.append((start, error.message))
            return
        middle = (start + stop) // 2
        _score(loaded, columns, features, start, middle, proba, into)
        _score(loaded, columns, features, middle, stop, proba, into)
        return
    into.rows.extend(range(start, stop))
    into.labels.extend(prediction.labels.tolist())
    if into.proba is not None and prediction.proba is not None:
        into.proba.extend(prediction.proba.tolist())


def row_ids(columns: Columns, id_column: str | None, start: int, stop: int) -> list[str]:
    if id_column is None:
        return [str(i) for i in range(start, stop)]
    return [_text(v) for v in columns[id_column][start:stop].tolist()]


def render(
    layout: Layout, scored: Scored, ids: dict[int, str], passthrough: Columns, version: int,
    fmt: str,
) -> bytes:  # fmt: skip
    """Scored rows as output lines (no CSV header: assembly writes it once)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for i, row in enumerate(scored.rows):
        values: list[Any] = [ids[row], *(_text(passthrough[c][row]) for c in layout.passthrough)]
        if layout.prediction:
            values.append(scored.labels[i])
        if layout.classes and scored.proba is not None:
            values.extend(scored.proba[i])
        values.append(version)
        if fmt == "jsonl":
            out.write(json.dumps(dict(zip(layout.header, values, strict=True))) + "\n")
        else:
            writer.writerow([_cell(v) for v in values])
    return out.getvalue().encode("utf-8")


def render_errors(
    errors: list[tuple[int, str]], ids: dict[int, str], offset: int = 0
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
