"""One typed feature's tensor data to its raw column: numbers as float64, categories as text.

The general path of `typed_codec`, per feature: every cell checked, every refusal a 400 naming
the input and, where there is one, the value and its row. A flat JSON list of plain floats (or
plain text) takes a one-call shortcut here; anything else goes through the per-cell rules.
What a column means (NaN or `MISSING_CATEGORY` for missing, text stripped, the `missingValues`
vocabulary counted as missing, integers as their decimal text) is defined here and nowhere
else; `typed_fast` only takes requests whose every cell it can show means the same.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from modelship.api.v1alpha1 import MISSING_CATEGORY
from modelship.serving import input_tensors
from modelship.serving.errors import InvalidInputError

if TYPE_CHECKING:
    from modelship.serving.typed_codec import FeatureSchema

NUMERIC_KINDS = {
    "FP16": "fiu", "FP32": "fiu", "FP64": "fiu",
    "INT8": "iu", "INT16": "iu", "INT32": "iu", "INT64": "iu",
    "UINT8": "iu", "UINT16": "iu", "UINT32": "iu", "UINT64": "iu",
    "BOOL": "b",
}  # fmt: skip
"""The numpy kinds of data each numeric datatype accepts."""
INTEGERS = frozenset(name for name in NUMERIC_KINDS if name.startswith(("INT", "UINT")))
FLOATS = frozenset({"FP16", "FP32", "FP64"})
FLOAT_CELLS = frozenset({float, int, type(None)})
"""Python types of a plain number cell (bool is its own type, so it is not one)."""


def numbers(name: str, datatype: str, data: Any, schema: FeatureSchema) -> NDArray[np.float64]:
    """Numbers of any numeric datatype (or as text in BYTES); null, NaN and the missing
    vocabulary are missing (NaN); infinity is refused."""
    if datatype == "BYTES":
        values = np.array(
            [_number_from_text(name, cell, schema) for cell in flat(data)], dtype=np.float64
        )
    elif (fast := _plain_floats(datatype, data)) is not None:
        return fast
    else:
        array = np.asarray(data) if isinstance(data, np.ndarray) else _json_array(data)
        kinds = NUMERIC_KINDS[datatype]
        if array.dtype.kind == "O":
            array = _with_nulls(name, array, kinds)
        elif array.dtype.kind not in kinds:
            raise InvalidInputError(
                f"input {name!r}: {datatype} data must be {_expected(kinds)} or null, "
                f"found {_offender(data, kinds)!r}"
            )
        input_tensors.require_range(array, datatype, name)
        values = array.astype(np.float64, copy=False).reshape(-1)
    if np.isinf(values).any():
        raise InvalidInputError(
            f"input {name!r}: infinite value at row {int(np.argmax(np.isinf(values)))}"
        )
    return values


def _plain_floats(datatype: str, data: Any) -> NDArray[np.float64] | None:
    """The common case in one numpy call: a flat JSON list of finite floats, ints and nulls
    under a float datatype (null becomes NaN). None for anything else, which the general path
    decodes or refuses (bools, text, nesting, infinity, integer datatypes and their ranges)."""
    if (
        datatype not in FLOATS
        or type(data) is not list
        or not FLOAT_CELLS.issuperset(map(type, data))
        or math.inf in data  # infinity: refused by the general path, with its row
        or -math.inf in data
    ):
        return None
    try:
        return np.array(data, dtype=np.float64)
    except OverflowError:  # an integer beyond float64: the general path says so
        return None


def _number_from_text(name: str, cell: Any, schema: FeatureSchema) -> float:
    if cell is None:
        return math.nan
    if not isinstance(cell, str):
        raise InvalidInputError(
            f"input {name!r}: BYTES data must be strings or null, found {cell!r}"
        )
    text = cell.strip()
    if text in schema.missing:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InvalidInputError(
            f"input {name!r} is numeric: {text[:80]!r} is neither a number nor a missing value"
        ) from None


def _json_array(data: Any) -> NDArray[Any]:
    try:
        return np.asarray(data)
    except (ValueError, TypeError):
        return np.asarray(list(flat(data)), dtype=object)


def _with_nulls(name: str, array: NDArray[Any], kinds: str) -> NDArray[Any]:
    """JSON data with nulls in it (numpy makes it an object array): null becomes NaN."""
    cells = array.reshape(-1).tolist()
    wanted = (bool,) if kinds == "b" else (int, float)
    for cell in cells:
        if cell is not None and (
            not isinstance(cell, wanted) or (kinds != "b" and isinstance(cell, bool))
        ):
            raise InvalidInputError(
                f"input {name!r}: data must be {_expected(kinds)} or null, found {cell!r}"
            )
        if kinds == "iu" and isinstance(cell, float):
            raise InvalidInputError(
                f"input {name!r}: data must be integers or null, found {cell!r}"
            )
    try:
        return np.array([math.nan if c is None else c for c in cells], dtype=np.float64)
    except OverflowError:
        big = next(c for c in cells if isinstance(c, int) and abs(c) > 2**1023)
        raise InvalidInputError(
            f"input {name!r}: {str(big)[:40]}... is beyond the range of a float64"
        ) from None


def categories(name: str, datatype: str, data: Any, schema: FeatureSchema) -> NDArray[Any]:
    """Category text; integers become their decimal text; a float is refused (is 1.0 "1"?)."""
    if datatype in INTEGERS:
        array = np.asarray(data) if isinstance(data, np.ndarray) else _json_array(data)
        if array.dtype.kind == "O":
            array = _with_nulls(name, array, "iu")
            return np.array(
                [MISSING_CATEGORY if v != v else str(int(v)) for v in array.tolist()], dtype=object
            )
        if array.dtype.kind not in "iu":
            raise InvalidInputError(f"input {name!r}: {datatype} data must be integers")
        return np.array([str(v) for v in array.reshape(-1).tolist()], dtype=object)
    if datatype != "BYTES":
        cells = list(flat(data))
        shown = next((c for c in cells if c is not None), None)
        raise InvalidInputError(
            f"input {name!r} is categorical: send its values as BYTES text (or INT), "
            f"not {datatype}" + (f" (found {shown!r})" if shown is not None else "")
        )
    cells = flat(data)
    if (fast := _plain_text(cells, schema)) is not None:
        return fast
    out = []
    for row, cell in enumerate(cells):
        if cell is None:
            out.append(MISSING_CATEGORY)
            continue
        if isinstance(cell, bytes):
            try:
                cell = cell.decode()
            except UnicodeDecodeError:
                raise InvalidInputError(
                    f"input {name!r}: the value at row {row} is not UTF-8 text"
                ) from None
        if not isinstance(cell, str):
            raise InvalidInputError(
                f"input {name!r} is categorical: a category is text, found {cell!r} at row {row}"
            )
        if len(cell.encode()) > schema.max_cell_bytes:
            raise InvalidInputError(
                f"input {name!r}: the value at row {row} ({cell[:40]!r}...) is longer than "
                f"{schema.max_cell_bytes} bytes"
            )
        text = cell.strip()
        out.append(MISSING_CATEGORY if text in schema.missing else text)
    return np.array(out, dtype=object)


_NONE = type(None)
_TEXT_CELLS = frozenset({str, _NONE})


def _plain_text(cells: list[Any], schema: FeatureSchema) -> NDArray[Any] | None:
    """The common case without a per-cell branch ladder: text and nulls, every cell short
    enough on its length alone (UTF-8 spends at most 4 bytes per character). None for
    anything else (bytes, numbers, a cell that may be over-long), which the general loop
    decodes or refuses with the row named."""
    types = set(map(type, cells))
    if not _TEXT_CELLS.issuperset(types):
        return None
    if _NONE in types:
        given, cells = cells, [MISSING_CATEGORY if cell is None else cell for cell in cells]
    else:
        given = cells
    limit = schema.max_cell_bytes
    if max(map(len, cells), default=0) * 4 > limit and any(
        len(cell.encode()) > limit for cell in given if cell is not None
    ):
        return None
    texts = list(map(str.strip, cells))  # the loops here run in C, not per cell in Python
    if not schema.missing.isdisjoint(texts):
        texts = [MISSING_CATEGORY if text in schema.missing else text for text in texts]
    return np.array(texts, dtype=object)


def flat(data: Any) -> list[Any]:
    if isinstance(data, np.ndarray):
        cells: list[Any] = data.reshape(-1).tolist()
        return cells
    if not isinstance(data, list):
        return [data]
    if list not in map(type, data):  # flat already (the usual case), checked in C
        return data
    return [cell for part in data for cell in flat(part)]


def _expected(kinds: str) -> str:
    return {"iu": "integers", "b": "booleans"}.get(kinds, "numbers")


def _offender(data: Any, kinds: str) -> Any:
    """The first value that is not of the expected kind (numpy turned the list into text)."""
    wanted = (bool,) if kinds == "b" else (int, float)
    for cell in flat(data):
        if cell is not None and (
            not isinstance(cell, wanted) or (kinds != "b" and isinstance(cell, bool))
        ):
            return cell
    return None
