"""Requests for a model with typed features: one tensor per feature, numbers and categories.

The way MLServer's pandas codec and KServe's `InferRequest` send a table: each column its own
`[n]` tensor named after the feature, numbers in any numeric datatype, categories as `BYTES`,
JSON `null` (or NaN in raw bytes) for a missing value, and any value of the Model's
`missingValues` counted as missing too. The result is the plan's raw columns
(`contracts.features.Columns`); the plan turns them into the estimator's matrix. Every refusal
is a 400 that names the column and, where there is one, the value. A model whose features are
all numeric also takes the single `[n, k]` tensor, as untyped models always have.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelship.api.v1alpha1 import MISSING_CATEGORY
from modelship.contracts.features import CategoricalStep, Columns, FeaturePlan
from modelship.serving import codec
from modelship.serving.errors import InvalidInputError, TooManyRowsError

_NUMERIC = {
    "FP16": "fiu", "FP32": "fiu", "FP64": "fiu",
    "INT8": "iu", "INT16": "iu", "INT32": "iu", "INT64": "iu",
    "UINT8": "iu", "UINT16": "iu", "UINT32": "iu", "UINT64": "iu",
    "BOOL": "b",
}  # fmt: skip
_INTEGERS = {name for name in _NUMERIC if name.startswith(("INT", "UINT"))}
_SUPPORTED = frozenset(codec.SUPPORTED_DATATYPES)


@dataclass(frozen=True, slots=True)
class FeatureSchema:
    """What a request must carry: the features in order, which are categorical, what counts
    as missing, and the longest category cell accepted."""

    names: tuple[str, ...]
    categorical: frozenset[str]
    missing: frozenset[str]
    max_cell_bytes: int

    @classmethod
    def of(cls, plan: FeaturePlan, max_cell_bytes: int) -> FeatureSchema:
        return cls(
            names=tuple(plan.names),
            categorical=frozenset(s.name for s in plan.features if isinstance(s, CategoricalStep)),
            missing=frozenset(plan.missing_values),
            max_cell_bytes=max_cell_bytes,
        )

    def datatype(self, name: str) -> str:
        return "BYTES" if name in self.categorical else "FP64"

    def layout(self) -> str:
        return ", ".join(f"{n} ({self.datatype(n)})" for n in self.names)


@dataclass(frozen=True, slots=True)
class TypedDecoded:
    columns: Columns
    rows: int
    outputs: tuple[str, ...]
    request_id: str | None


def decode_v2(
    payload: dict[str, Any], schema: FeatureSchema, classifier: bool, max_rows: int
) -> TypedDecoded:
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInputError("'inputs' must be a non-empty list of tensors")
    tensors = [_header(item, max_rows) for item in inputs]
    if len(tensors) == 1 and len(tensors[0][2]) == 2 and tensors[0][2][1] != 1:
        columns = _matrix(tensors[0], schema)
    else:
        columns = _by_feature(tensors, schema)
    request_id = payload.get("id")
    return TypedDecoded(
        columns,
        len(next(iter(columns.values()))),
        codec.requested_outputs(payload.get("outputs"), classifier),
        request_id if isinstance(request_id, str) else None,
    )


def decode_v1(payload: dict[str, Any], schema: FeatureSchema, max_rows: int) -> Columns:
    """KServe v1 `instances` as objects keyed by feature (strings, numbers, null)."""
    instances = payload.get("instances")
    if not isinstance(instances, list) or not instances:
        raise InvalidInputError("'instances' must be a non-empty list")
    if len(instances) > max_rows:
        raise TooManyRowsError(f"{len(instances)} instances exceed the limit of {max_rows} rows")
    if not all(isinstance(item, dict) for item in instances):
        raise InvalidInputError(f"instances must be objects keyed by feature: {schema.layout()}")
    tensors = [
        (name, schema.datatype(name), [len(instances)], [item.get(name) for item in instances])
        for name in schema.names
    ]
    if unknown := sorted({k for item in instances for k in item} - set(schema.names)):
        raise InvalidInputError(f"unknown feature {unknown[0]!r} in instances")
    if absent := [n for n in schema.names if any(n not in item for item in instances)]:
        raise InvalidInputError(f"feature {absent[0]!r} is missing from an instance")
    return _by_feature(tensors, schema)


Header = tuple[str, str, list[int], Any]


def _header(item: Any, max_rows: int) -> Header:
    """(name, datatype, shape, data) of one input, the shape and counts checked."""
    if not isinstance(item, dict):
        raise InvalidInputError("every input must be an object with name, datatype, shape and data")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInputError("every input needs a non-empty string 'name'")
    datatype = item.get("datatype")
    if datatype not in _SUPPORTED:
        raise InvalidInputError(
            f"input {name!r} has datatype {datatype!r}; supported: "
            + ", ".join(codec.SUPPORTED_DATATYPES)
        )
    shape = item.get("shape")
    if (
        type(shape) is not list
        or not 1 <= len(shape) <= 2
        or type(shape[0]) is not int  # bool is not int here
        or shape[0] < 0
        or (len(shape) == 2 and (type(shape[1]) is not int or shape[1] < 0))
    ):
        raise InvalidInputError(
            f"input {name!r} needs 'shape' [n] or [n, m] of non-negative integers"
        )
    if shape[0] == 0:
        raise InvalidInputError(f"input {name!r} has no rows")
    if shape[0] > max_rows:
        raise TooManyRowsError(f"input {name!r} has {shape[0]} rows; the limit is {max_rows}")
    if "data" not in item:
        raise InvalidInputError(f"input {name!r} has no 'data'")
    return name, datatype, shape, item["data"]


def _by_feature(tensors: Sequence[Header], schema: FeatureSchema) -> Columns:
    columns: Columns = {}
    for name, datatype, shape, data in tensors:
        if name not in schema.names:
            raise InvalidInputError(
                f"unknown input {name!r}; this model's inputs are {schema.layout()}"
            )
        if name in columns:
            raise InvalidInputError(f"feature {name!r} is given twice")
        if len(shape) == 2 and shape[1] != 1:
            raise InvalidInputError(f"input {name!r} has shape {shape}; a feature is [n] or [n, 1]")
        if name in schema.categorical:
            column: NDArray[Any] = _categories(name, datatype, data, schema)
        else:
            column = _numbers(name, datatype, data, schema)
        if len(column) != (shape[0] if len(shape) == 1 else shape[0] * shape[1]):
            raise InvalidInputError(
                f"input {name!r} declares shape {shape} ({math.prod(shape)} values) "
                f"but carries {len(column)}"
            )
        columns[name] = column
    if len(columns) != len(schema.names):  # every name given is known and given once
        absent = [n for n in schema.names if n not in columns]
        raise InvalidInputError(
            f"feature {absent[0]!r} is missing; send one [n] tensor per feature: {schema.layout()}"
        )
    if len({len(column) for column in columns.values()}) != 1:
        lengths = {name: len(column) for name, column in columns.items()}
        first = schema.names[0]
        odd = next(n for n in schema.names if lengths[n] != lengths[first])
        raise InvalidInputError(
            f"inputs have unequal lengths: {first!r} has {lengths[first]} values, "
            f"{odd!r} has {lengths[odd]}"
        )
    return {name: columns[name] for name in schema.names}


def _matrix(tensor: Header, schema: FeatureSchema) -> Columns:
    """The single [n, k] tensor: only for a model whose features are all numbers."""
    name, datatype, shape, data = tensor
    if schema.categorical:
        raise InvalidInputError(
            f"input {name!r} is one [n, k] tensor, but this model has categorical features; "
            f"send one [n] tensor per feature: {schema.layout()}"
        )
    if shape[1] != len(schema.names):
        raise InvalidInputError(
            f"input {name!r} has shape {shape}; the model expects [n, {len(schema.names)}] "
            f"(features {', '.join(schema.names)})"
        )
    values = _numbers(name, datatype, data, schema)
    if len(values) != math.prod(shape):
        raise InvalidInputError(
            f"input {name!r} declares shape {shape} ({math.prod(shape)} values) "
            f"but carries {len(values)}"
        )
    matrix = values.reshape(shape)
    return {feature: matrix[:, i].copy() for i, feature in enumerate(schema.names)}


def _numbers(name: str, datatype: str, data: Any, schema: FeatureSchema) -> NDArray[np.float64]:
    """Numbers of any numeric datatype (or as text in BYTES); null, NaN and the missing
    vocabulary are missing (NaN); infinity is refused."""
    if datatype == "BYTES":
        values = np.array(
            [_number_from_text(name, cell, schema) for cell in _flat(data)], dtype=np.float64
        )
    elif (fast := _plain_floats(datatype, data)) is not None:
        return fast
    else:
        array = np.asarray(data) if isinstance(data, np.ndarray) else _json_array(data)
        kinds = _NUMERIC[datatype]
        if array.dtype.kind == "O":
            array = _with_nulls(name, array, kinds)
        elif array.dtype.kind not in kinds:
            raise InvalidInputError(
                f"input {name!r}: {datatype} data must be {_expected(kinds)} or null, "
                f"found {_offender(data, kinds)!r}"
            )
        codec.require_range(array, datatype, name)
        values = array.astype(np.float64, copy=False).reshape(-1)
    if np.isinf(values).any():
        raise InvalidInputError(
            f"input {name!r}: infinite value at row {int(np.argmax(np.isinf(values)))}"
        )
    return values


_FLOAT_CELLS = frozenset({float, int, type(None)})


def _plain_floats(datatype: str, data: Any) -> NDArray[np.float64] | None:
    """The common case in one numpy call: a flat JSON list of finite floats, ints and nulls
    under a float datatype (null becomes NaN). None for anything else, which the general path
    decodes or refuses (bools, text, nesting, infinity, integer datatypes and their ranges)."""
    if (
        datatype not in _FLOATS
        or type(data) is not list
        or not _FLOAT_CELLS.issuperset(map(type, data))
        or math.inf in data  # infinity: refused by the general path, with its row
        or -math.inf in data
    ):
        return None
    try:
        return np.array(data, dtype=np.float64)
    except OverflowError:  # an integer beyond float64: the general path says so
        return None


_FLOATS = frozenset({"FP16", "FP32", "FP64"})


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
        return np.asarray(list(_flat(data)), dtype=object)


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
    return np.array([math.nan if c is None else c for c in cells], dtype=np.float64)


def _categories(name: str, datatype: str, data: Any, schema: FeatureSchema) -> NDArray[Any]:
    """Category text; integers become their decimal text; a float is refused (is 1.0 "1"?)."""
    if datatype in _INTEGERS:
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
        cells = list(_flat(data))
        shown = next((c for c in cells if c is not None), None)
        raise InvalidInputError(
            f"input {name!r} is categorical: send its values as BYTES text (or INT), "
            f"not {datatype}" + (f" (found {shown!r})" if shown is not None else "")
        )
    cells = _flat(data)
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


def _flat(data: Any) -> list[Any]:
    if isinstance(data, np.ndarray):
        flat: list[Any] = data.reshape(-1).tolist()
        return flat
    if not isinstance(data, list):
        return [data]
    if list not in map(type, data):  # flat already (the usual case), checked in C
        return data
    return [cell for part in data for cell in _flat(part)]


def _expected(kinds: str) -> str:
    return {"iu": "integers", "b": "booleans"}.get(kinds, "numbers")


def _offender(data: Any, kinds: str) -> Any:
    """The first value that is not of the expected kind (numpy turned the list into text)."""
    wanted = (bool,) if kinds == "b" else (int, float)
    for cell in _flat(data):
        if cell is not None and (
            not isinstance(cell, wanted) or (kinds != "b" and isinstance(cell, bool))
        ):
            return cell
    return None
