"""One Open Inference Protocol v2 input tensor, checked: name, datatype, shape and data.

The rules every input tensor of a request must satisfy on its own -- a supported datatype, a
shape of one or two non-negative dimensions within the row limit, data of the declared kind and
range (or, for BYTES, numbers as text) and as many values as the shape says -- kept apart from
`codec`, which combines a request's tensors into the model's rows. `require_range` and
`SUPPORTED_DATATYPES` serve the typed codec too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelship.serving.errors import InvalidInputError, TooManyRowsError

# Every numeric datatype of the protocol: the model sees float64, which holds every value of
# these exactly (UINT64 and INT64 beyond 2**53 round, as they would in any float64 model).
# The numpy kinds of data each accepts; integer values are also checked against the range.
_NUMERIC_KINDS = {
    "FP16": "fiu", "FP32": "fiu", "FP64": "fiu",
    "INT8": "iu", "INT16": "iu", "INT32": "iu", "INT64": "iu",
    "UINT8": "iu", "UINT16": "iu", "UINT32": "iu", "UINT64": "iu",
    "BOOL": "b",
}  # fmt: skip
_INTEGER_RANGES = {
    name: np.iinfo(name.lower()) for name in _NUMERIC_KINDS if name.startswith(("INT", "UINT"))
}
SUPPORTED_DATATYPES = (*_NUMERIC_KINDS, "BYTES")


def input_tensor(item: Any, max_rows: int) -> tuple[str, list[int], NDArray[np.float64]]:
    """An input's name, shape and values as float64 in that shape; a bad one is refused, named."""
    if not isinstance(item, dict):
        raise InvalidInputError("every input must be an object with name, datatype, shape and data")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInputError("every input needs a non-empty string 'name'")
    datatype = item.get("datatype")
    if datatype not in SUPPORTED_DATATYPES:
        raise InvalidInputError(
            f"input '{name}' has datatype {datatype!r}; supported: {', '.join(SUPPORTED_DATATYPES)}"
        )
    shape = item.get("shape")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise InvalidInputError(
            f"input '{name}' needs 'shape' [n] or [n, m] of non-negative integers"
        )
    if shape[0] == 0:
        raise InvalidInputError(f"input '{name}' has no rows")
    if shape[0] > max_rows:
        raise TooManyRowsError(f"input '{name}' has {shape[0]} rows; the limit is {max_rows}")
    if "data" not in item:
        raise InvalidInputError(f"input '{name}' has no 'data'")
    if datatype == "BYTES":
        values = _bytes_asnumbers(item["data"], name)
    else:
        values = numbers(item["data"], f"input '{name}'", _NUMERIC_KINDS[datatype])
        require_range(values, datatype, name)
    if values.size != math.prod(shape):
        raise InvalidInputError(
            f"input '{name}' declares shape {shape} ({math.prod(shape)} values) "
            f"but carries {values.size}"
        )
    return name, shape, values.astype(np.float64, copy=False).reshape(shape)


def numbers(data: Any, what: str, kinds: str) -> NDArray[Any]:
    try:
        array = np.asarray(data)
    except (ValueError, TypeError):
        raise InvalidInputError(f"{what}: data is not a rectangular array") from None
    if array.dtype.kind not in kinds:
        expected = {"iu": "integers", "b": "booleans"}.get(kinds, "numbers")
        raise InvalidInputError(f"{what}: data must be {expected}, found {_describe(array)}")
    return array


def require_range(values: NDArray[Any], datatype: str, name: str) -> None:
    """Integers must fit the datatype they are declared as (a negative UINT is a client bug,
    not a feature value)."""
    limits = _INTEGER_RANGES.get(datatype)
    if limits is None or values.size == 0 or values.dtype.kind not in "iu":
        return
    low, high = int(values.min()), int(values.max())
    if low < limits.min or high > limits.max:
        raise InvalidInputError(
            f"input '{name}': {datatype} values must lie in [{limits.min}, {limits.max}], "
            f"found {low if low < limits.min else high}"
        )


def _bytes_asnumbers(data: Any, name: str) -> NDArray[np.float64]:
    """BYTES tensors of a numeric model must hold numbers written as strings."""
    try:
        array = np.asarray(data)
    except (ValueError, TypeError):
        raise InvalidInputError(f"input '{name}': data is not a rectangular array") from None
    if array.dtype.kind != "U":
        raise InvalidInputError(f"input '{name}': BYTES data must be strings")
    try:
        return array.astype(np.float64)
    except ValueError:
        bad = next(v for v in array.ravel().tolist() if not _is_number(v))
        raise InvalidInputError(
            f"input '{name}': BYTES values must be numbers as text, not {bad[:64]!r}"
        ) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _describe(array: NDArray[Any]) -> str:
    return {"b": "booleans", "U": "strings", "f": "fractional numbers", "O": "mixed values"}.get(
        array.dtype.kind, str(array.dtype)
    )
