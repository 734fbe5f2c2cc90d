"""The fitted feature plan as vectorised numpy: what `FeaturePlan.compile` builds.

The plan itself (`contracts.features`) is the contract, plain data the trainer writes and
serving reads; this is how both turn raw columns into the estimator's matrix with it, fast
enough for every request, kept apart so the document's rules and the arithmetic each read in
one sitting.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from modelship.contracts.features import (
    CategoricalStep,
    Columns,
    FeaturePlan,
    NumericStep,
    UnknownCategoryError,
)


class _Positions(dict[str, int]):
    """Category -> its position in the vocabulary; anything else -1. A dict subclass so that
    `map(table.__getitem__, cells)` looks every cell up in C, unknown values included."""

    def __missing__(self, key: str) -> int:
        return -1


class PlanTransform:
    """The plan as vectorised numpy, built once per served version.

    Per request it costs one dictionary lookup per categorical cell (in C, through `map`) and
    a handful of array operations for the whole matrix, not per column; no pandas, no
    scikit-learn. Everything that does not depend on the request (column offsets, code tables,
    fill values) is worked out here, once.

    Categorical cells are first turned into their *vocabulary positions* (`positions`, -1 for
    an unknown value); one table lookup then gives every categorical feature's output at once:
    the code for an ordinal column, the output column to set for a one-hot one. The positions
    are also what the drift monitor counts (`serving.features`), so a served request looks each
    cell up once for both.
    """

    def __init__(self, plan: FeaturePlan) -> None:
        self.plan = plan
        self.names = tuple(plan.names)
        self.width = len(plan.output_columns)
        numeric: list[tuple[str, int, float]] = []
        self.categorical: tuple[CategoricalStep, ...] = tuple(
            s for s in plan.features if isinstance(s, CategoricalStep)
        )
        self._lookups = [
            _Positions({c: i for i, c in enumerate(s.vocabulary)}) for s in self.categorical
        ]
        self._reject = [i for i, s in enumerate(self.categorical) if s.on_unknown == "reject"]
        # One table for every categorical feature: feature i's entries start at shift[i], the
        # first for an unknown value (position -1), then one per vocabulary position. An
        # ordinal feature's entry is its code (-1 for unknown, as OrdinalEncoder's
        # unknown_value); a one-hot feature's is the output column to set (-1: none).
        table: list[float] = []
        shifts: list[int] = []
        ordinal_at: list[int] = []
        at = 0
        for step in plan.features:
            if isinstance(step, NumericStep):
                numeric.append((step.name, at, math.nan if step.fill is None else step.fill))
            else:
                codes = step.codes()
                shifts.append(len(table) + 1)
                base = 0 if step.encoding == "ordinal" else at
                table += [-1.0, *(float(base + codes[c]) for c in step.vocabulary)]
                if step.encoding == "ordinal":
                    ordinal_at.append(at)
            at += len(step.outputs)
        self._numeric_names = [name for name, _, _ in numeric]
        self._numeric_at = column_index([at for _, at, _ in numeric])
        self._fills = np.array([fill for _, _, fill in numeric], dtype=np.float64).reshape(-1, 1)
        self._imputes = bool((~np.isnan(self._fills)).any())
        self._table = np.array(table, dtype=np.float64)
        self._columns = self._table.astype(np.intp)  # a one-hot entry's column, as an index
        self._shifts = np.array(shifts, dtype=np.intp).reshape(-1, 1)
        ordinal = [s.encoding == "ordinal" for s in self.categorical]
        self._ordinal = np.array(ordinal, dtype=bool)
        self._ordinal_at = column_index(ordinal_at)
        self._all_ordinal = all(ordinal)
        self._any_ordinal = any(ordinal)

    def __call__(self, columns: Columns) -> NDArray[np.float64]:
        """(n, width) float64 for the estimator from raw columns keyed by feature name."""
        return self.assemble(self.numbers(columns), self.positions(columns))

    def numbers(self, columns: Columns) -> NDArray[np.float64]:
        """(numeric features, n): the numeric columns as received (NaN for missing)."""
        if not self._numeric_names:
            return np.empty((0, len(columns[self.names[0]])), dtype=np.float64)
        return np.array([columns[name] for name in self._numeric_names], dtype=np.float64)

    def positions(self, columns: Columns) -> NDArray[np.intp]:
        """(categorical features, n): each cell's vocabulary position, -1 for a value outside
        it; UnknownCategoryError for such a value under `reject` (naming feature and value)."""
        if not self.categorical:
            return np.empty((0, len(columns[self.names[0]])), dtype=np.intp)
        found = [
            list(map(lookup.__getitem__, columns[step.name].tolist()))
            for step, lookup in zip(self.categorical, self._lookups, strict=True)
        ]
        for i in self._reject:
            if -1 in found[i]:
                step = self.categorical[i]
                value = columns[step.name][found[i].index(-1)]
                raise UnknownCategoryError(
                    f"feature {step.name!r}: unknown category {str(value)[:80]!r} "
                    f"(onUnknown: reject; known: {_shown(step.vocabulary)})"
                )
        return np.array(found, dtype=np.intp)

    @property
    def shifts(self) -> NDArray[np.intp]:
        """(categorical features, 1): where each feature's entries start in the plan's table;
        a cell's *entry* is its position plus its feature's shift (an unknown value's entry is
        the one just before the feature's first). Serving's drift table has the same layout."""
        return self._shifts

    def assemble(
        self, numbers: NDArray[np.float64], positions: NDArray[np.intp]
    ) -> NDArray[np.float64]:
        """The matrix from `numbers` and `positions` (a handful of numpy calls in all)."""
        known = not positions.size or bool(positions.min() >= 0)
        return self.assemble_entries(numbers, positions + self._shifts, known=known)

    def assemble_entries(
        self, numbers: NDArray[np.float64], entries: NDArray[np.intp], *, known: bool
    ) -> NDArray[np.float64]:
        """The matrix from `numbers` and the categorical cells' entries (`shifts`); `known`
        says no cell is an unknown value, so every one-hot cell sets a column."""
        n = numbers.shape[1]
        out = np.zeros((n, self.width), dtype=np.float64)
        if len(numbers):
            if self._imputes:
                numbers = np.where(np.isnan(numbers), self._fills, numbers)
            out[:, self._numeric_at] = numbers.T
        if not len(entries):
            return out
        if self._all_ordinal:
            out[:, self._ordinal_at] = self._table[entries].T
            return out
        if self._any_ordinal:
            out[:, self._ordinal_at] = self._table[entries[self._ordinal]].T
            onehot = self._columns[entries[~self._ordinal]]
        else:
            onehot = self._columns[entries]  # output column per cell, -1: none
        # Row r's column c is element r * width + c of the flat matrix (row 0: c itself).
        flat = onehot + np.arange(0, n * self.width, self.width) if n > 1 else onehot
        out.reshape(-1)[flat if known else flat[onehot >= 0]] = 1.0
        return out


def column_index(columns: list[int]) -> slice | NDArray[np.intp]:
    """Output column indices as a slice when they are consecutive (a cheaper assignment)."""
    if columns and columns == list(range(columns[0], columns[-1] + 1)):
        return slice(columns[0], columns[-1] + 1)
    return np.array(columns, dtype=np.intp)


def _shown(values: list[str]) -> str:
    text = ", ".join(repr(v) for v in values[:10])
    return text + (f" and {len(values) - 10} more" if len(values) > 10 else "")
