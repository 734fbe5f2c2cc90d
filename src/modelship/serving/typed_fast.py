"""The common typed request in one pass, straight to the plan's numbers and positions.

Most requests to a typed model look alike: one flat `[n]` tensor per feature, each feature
once, floats and nulls under FP16/32/64 for a number, short known categories and nulls as
`BYTES` text. For those, the general path (`typed_codec` -> `typed_cells` -> the plan's
lookups) builds per-feature arrays of text and then looks every cell up again. This shortcut
looks each raw JSON cell up once, in C (`map(dict.get, cells)`), in a table built once per
served version, and gives what `PlanTransform.numbers` and `PlanTransform.positions` would:

- (numeric features, n) float64, null as NaN, from one `np.array` call over the raw lists;
- (categorical features, n) vocabulary positions.

It decides nothing of its own: `take` answers None for anything it cannot show means exactly
what the general path makes of it, and the caller then runs the general path, which decodes
or refuses (with its 400 naming column and value). That covers every refusal and every rarity:
a feature missing, given twice or unknown, another shape or datatype, unequal lengths, too
many rows, bools, text or infinity among numbers, a cell outside the table (an unknown or
over-long category, text with surrounding spaces, bytes, numbers) and unhashable cells.

Why the table is exact: a cell is in it only if the general path maps that very cell to that
very position. Its keys are the vocabulary entries the general path can produce from a cell
unchanged (already stripped, within the byte limit, not a missing value), every `missingValues`
entry of that kind (mapped to the position of `MISSING_CATEGORY`), and JSON null (the same).
A key absent from the table (an unknown category above all) sends the request the general way.
`ServedFeatures.with_fast_path` also checks both paths agree on the version's held-out rows
before the shortcut is used at all.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelship.api.v1alpha1 import MISSING_CATEGORY
from modelship.contracts.features import CategoricalStep
from modelship.contracts.plan_transform import PlanTransform
from modelship.serving.typed_cells import FLOAT_CELLS, FLOATS

_INF = math.inf
_NEG_INF = -math.inf
_SCAN = 8
"""Up to this many rows, infinity is looked for in the lists; beyond, in one numpy call."""


def cell_table(
    step: CategoricalStep, missing: frozenset[str], max_cell_bytes: int
) -> dict[str | None, int]:
    """Raw cell -> vocabulary position, for the cells whose meaning needs no further rule."""
    positions = {category: i for i, category in enumerate(step.vocabulary)}
    table: dict[str | None, int] = {
        category: i
        for category, i in positions.items()
        if category == category.strip()
        and category not in missing
        and len(category.encode()) <= max_cell_bytes
    }
    missing_at = positions.get(MISSING_CATEGORY)
    if missing_at is not None:
        table[None] = missing_at
        for value in missing:
            if value == value.strip() and len(value.encode()) <= max_cell_bytes:
                table[value] = missing_at
    return table


class FastTyped:
    """Built once per served version from its plan transform and missing vocabulary."""

    def __init__(
        self, transform: PlanTransform, missing: frozenset[str], max_cell_bytes: int
    ) -> None:
        numeric = [name for name in transform.names if name not in _categorical(transform)]
        self._numeric_count = len(numeric)
        self._categorical_count = len(transform.categorical)
        # Feature name -> (categorical?, its row in numbers or positions).
        self._slots: dict[Any, tuple[bool, int]] = {n: (False, i) for i, n in enumerate(numeric)}
        self._slots.update((s.name, (True, i)) for i, s in enumerate(transform.categorical))
        self._tables = [cell_table(s, missing, max_cell_bytes) for s in transform.categorical]

    def take(
        self, payload: dict[str, Any], max_rows: int
    ) -> tuple[NDArray[np.float64], NDArray[np.intp]] | None:
        """(numbers, positions) of a request of the common form; None for any other."""
        try:
            return self._take(payload, max_rows)
        except KeyError:  # a cell outside a table: the general path says what it is
            return None
        except (TypeError, OverflowError):  # an unhashable cell or name; an int beyond float64
            return None

    def _take(
        self, payload: dict[str, Any], max_rows: int
    ) -> tuple[NDArray[np.float64], NDArray[np.intp]] | None:
        inputs = payload.get("inputs")
        if type(inputs) is not list or len(inputs) != len(self._slots):
            return None
        numbers: list[Any] = [None] * self._numeric_count
        found: list[Any] = [None] * self._categorical_count
        n = -1
        for item in inputs:
            if type(item) is not dict:
                return None
            slot = self._slots.get(item.get("name"))
            data = item.get("data")
            shape = item.get("shape")
            if (
                slot is None
                or type(data) is not list
                or type(shape) is not list
                or len(shape) != 1
                or type(shape[0]) is not int  # not a bool either
                or shape[0] != len(data)
                or (n != len(data) and n != -1)
            ):
                return None
            n = len(data)
            categorical, row = slot
            if categorical:
                if item.get("datatype") != "BYTES" or found[row] is not None:
                    return None
                found[row] = list(map(self._tables[row].__getitem__, data))
            else:
                if (
                    item.get("datatype") not in FLOATS
                    or numbers[row] is not None
                    or not FLOAT_CELLS.issuperset(map(type, data))
                    or (len(data) <= _SCAN and (_INF in data or _NEG_INF in data))
                ):
                    return None
                numbers[row] = data
        # Every name known and none twice (the slots above), as many as there are features:
        # each feature is here exactly once.
        if not 0 < n <= max_rows:
            return None
        values = np.array(numbers, dtype=np.float64).reshape(self._numeric_count, n)
        if n > _SCAN and np.isinf(values).any():  # refused by the general path, row named
            return None
        return values, np.array(found, dtype=np.intp).reshape(self._categorical_count, n)


def _categorical(transform: PlanTransform) -> set[str]:
    return {step.name for step in transform.categorical}
