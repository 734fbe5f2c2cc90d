"""The fitted feature plan: trainer -> serving (through the catalog version's `features.json`).

A version trained on typed features stores how its raw columns become the estimator's matrix as
plain data: per feature the impute value, or the category vocabulary and its codes. No code and
no pickle: serving rebuilds the transform from this document with the numpy below and loads no
type it does not already know. The trainer fits the plan on the training rows only and, before
publishing, checks that `transform` equals scikit-learn's `ColumnTransformer` configured the same
way on the held-out rows (`training/preprocess.py`), so both sides mean the same thing.

Raw columns (`Columns`) are what the wire and the CSV give: numeric features as float64 with NaN
for missing, categorical ones as object arrays of `str` with `MISSING_CATEGORY` for missing.

Encoding per categorical feature (chosen by the trainer from the estimator):
- `onehot`: one 0/1 column per kept category (vocabulary order), then one "other" column when
  rare categories were pooled; an unknown value sets none. Linear models, SVMs and k-NN need
  this: an integer code would impose an order and distances between labels that do not exist.
- `ordinal`: one column of codes 0..k-1 (k = the pooled "other" code), -1 for an unknown value.
  Trees split on thresholds and get the same partitions from codes with one column instead of
  k; histogram gradient boosting also reads them as native categories (negative = missing).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from modelship.api.v1alpha1.features import MISSING_CATEGORY

PLAN_FORMAT = 1
OTHER_COLUMN = "__other__"
"""Name suffix of the one-hot column for pooled rare categories."""

Columns = dict[str, NDArray[Any]]


class UnknownCategoryError(ValueError):
    """A value outside a `reject` feature's vocabulary (the message names column and value)."""


class _PlanModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class NumericStep(_PlanModel):
    """A number; a missing one becomes `fill` (or stays NaN when `fill` is None: impute none)."""

    name: str
    type: Literal["numeric"] = "numeric"
    impute: Literal["median", "mean", "constant", "none"]
    fill: float | None = Field(description="The fitted fill value; None keeps NaN.")

    @model_validator(mode="after")
    def _fill_matches(self) -> NumericStep:
        if (self.fill is None) != (self.impute == "none"):
            raise ValueError(f"feature {self.name!r}: fill must be set unless impute is none")
        return self

    @property
    def outputs(self) -> list[str]:
        return [self.name]


class CategoricalStep(_PlanModel):
    """A label from a vocabulary; rare labels pooled into one code, unknown ones by policy."""

    name: str
    type: Literal["categorical"] = "categorical"
    encoding: Literal["onehot", "ordinal"]
    vocabulary: list[str] = Field(
        min_length=1, description="Every known category (missing included), in fitted order."
    )
    kept: list[str] = Field(description="Categories with their own code, in code order.")
    pooled: list[str] = Field(
        default_factory=list, description="Rare categories that share the last code."
    )
    on_unknown: Literal["ignore", "reject"]
    counts: list[int] = Field(description="Training rows per vocabulary entry (for drift).")

    @model_validator(mode="after")
    def _partition(self) -> CategoricalStep:
        if sorted(self.kept + self.pooled) != sorted(self.vocabulary):
            raise ValueError(f"feature {self.name!r}: kept + pooled must be the vocabulary")
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError(f"feature {self.name!r}: the vocabulary repeats a category")
        if len(self.counts) != len(self.vocabulary):
            raise ValueError(f"feature {self.name!r}: one count per vocabulary entry")
        return self

    @property
    def outputs(self) -> list[str]:
        if self.encoding == "ordinal":
            return [self.name]
        columns = [f"{self.name}={category}" for category in self.kept]
        return columns + ([f"{self.name}={OTHER_COLUMN}"] if self.pooled else [])

    def codes(self) -> dict[str, int]:
        """Category -> code: kept categories in order, then every pooled one the next code."""
        table = {category: code for code, category in enumerate(self.kept)}
        table.update(dict.fromkeys(self.pooled, len(self.kept)))
        return table


Step = Annotated[NumericStep | CategoricalStep, Field(discriminator="type")]


class FeaturePlan(_PlanModel):
    """features.json: the raw inputs, their missing vocabulary, and how they become the matrix."""

    format_version: int = PLAN_FORMAT
    missing_values: list[str]
    features: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _readable(self) -> FeaturePlan:
        if self.format_version > PLAN_FORMAT:
            raise ValueError(
                f"feature plan format {self.format_version} is newer than this reader's "
                f"({PLAN_FORMAT})"
            )
        names = [step.name for step in self.features]
        if len(set(names)) != len(names):
            raise ValueError("feature plan names a feature twice")
        return self

    @property
    def names(self) -> list[str]:
        return [step.name for step in self.features]

    @property
    def output_columns(self) -> list[str]:
        return [column for step in self.features for column in step.outputs]

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    def compile(self) -> PlanTransform:
        return PlanTransform(self)


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


__all__ = [
    "MISSING_CATEGORY",
    "OTHER_COLUMN",
    "PLAN_FORMAT",
    "CategoricalStep",
    "Columns",
    "FeaturePlan",
    "NumericStep",
    "PlanTransform",
    "UnknownCategoryError",
    "column_index",
]
