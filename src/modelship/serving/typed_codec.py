"""Requests for a model with typed features: one tensor per feature, numbers and categories.

The way MLServer's pandas codec and KServe's `InferRequest` send a table: each column its own
`[n]` tensor named after the feature, numbers in any numeric datatype, categories as `BYTES`,
JSON `null` (or NaN in raw bytes) for a missing value, and any value of the Model's
`missingValues` counted as missing too. The result is the plan's raw columns
(`contracts.features.Columns`); the plan turns them into the estimator's matrix. Every refusal
is a 400 that names the column and, where there is one, the value. A model whose features are
all numeric also takes the single `[n, k]` tensor, as untyped models always have.

This is the general path, the one that defines what a request means: the tensors' headers and
which feature each is here, each tensor's cells in `typed_cells`. The common request takes
`typed_fast`'s shortcut instead (`ServedFeatures.decode_v2`), which answers only what it can
show this path would answer identically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from modelship.contracts.features import CategoricalStep, Columns, FeaturePlan
from modelship.serving import codec, input_tensors
from modelship.serving.errors import InvalidInputError, TooManyRowsError
from modelship.serving.typed_cells import categories, numbers

_SUPPORTED = frozenset(input_tensors.SUPPORTED_DATATYPES)


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
            + ", ".join(input_tensors.SUPPORTED_DATATYPES)
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
            column: NDArray[Any] = categories(name, datatype, data, schema)
        else:
            column = numbers(name, datatype, data, schema)
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
    values = numbers(name, datatype, data, schema)
    if len(values) != math.prod(shape):
        raise InvalidInputError(
            f"input {name!r} declares shape {shape} ({math.prod(shape)} values) "
            f"but carries {len(values)}"
        )
    matrix = values.reshape(shape)
    return {feature: matrix[:, i].copy() for i, feature in enumerate(schema.names)}
