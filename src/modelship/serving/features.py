"""A served version's typed features: request columns -> the estimator's matrix, and drift.

Built once at load from the version's `features.json` (plain data, digest-verified like every
other file): the plan's numpy transform and the request schema. Per request it turns decoded
columns into the matrix the runtime predicts on, refusing an unknown category under `reject`
with a 400, and gives the drift monitor one number per feature and row: the raw value for a
numeric feature (NaN when missing, counted in its own bin), the bin of the category in the
reference profile for a categorical one (missing and unseen values have bins of their own).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelship.api.v1alpha1 import MISSING_CATEGORY
from modelship.catalog import AcceptanceSet, FeatureProfile
from modelship.contracts.features import (
    CategoricalStep,
    Columns,
    FeaturePlan,
    UnknownCategoryError,
)
from modelship.contracts.plan_transform import PlanTransform, column_index
from modelship.serving import codec, typed_codec
from modelship.serving.errors import InvalidInputError
from modelship.serving.typed_codec import FeatureSchema
from modelship.serving.typed_fast import FastTyped

log = logging.getLogger(__name__)

_ROWS_CHECKED_ALONE = 500
"""Held-out rows also sent one per request at load (all of them are sent together too)."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """One request's typed columns as the runtime and the drift monitor want them."""

    matrix: NDArray[np.float64]
    drift_rows: NDArray[np.float64]
    unknown: dict[str, int]
    """Per categorical feature, how many values were outside its vocabulary."""


@dataclass(frozen=True, slots=True)
class TypedRequest:
    """A v2 request to a typed model, decoded and encoded."""

    encoded: Encoded
    outputs: tuple[str, ...]
    request_id: str | None


@dataclass(frozen=True, slots=True)
class ServedFeatures:
    plan: FeaturePlan
    schema: FeatureSchema
    transform: PlanTransform
    drift_bins: dict[str, dict[str, int]]
    """Categorical feature -> category -> its bin in the reference profile."""
    bin_tables: NDArray[np.float64]
    """Vocabulary position -> profile bin, every categorical feature's entries after one
    another (the unknown bin first, for position -1), in the transform's categorical order."""
    bin_shifts: NDArray[np.intp]
    unknown_bins: NDArray[np.float64]
    """Per categorical feature (a column vector), the profile bin of unseen values."""
    numeric_columns: slice | NDArray[np.intp]
    """Where the numeric and the categorical features sit in a drift row (a slice when they
    are consecutive, a cheaper assignment)."""
    categorical_columns: slice | NDArray[np.intp]
    vocabulary_binned: bool
    """Whether every vocabulary entry has a profile bin other than the unknown one."""
    fast: FastTyped | None = None
    """The common request's shortcut (`typed_fast`), once shown to agree with the general path
    on the version's held-out rows (`with_fast_path`); None: every request goes the general way."""

    @classmethod
    def build(
        cls, plan: FeaturePlan, profile: dict[str, FeatureProfile], max_cell_bytes: int
    ) -> ServedFeatures:
        bins = {}
        for step in plan.features:
            if isinstance(step, CategoricalStep):
                categories = profile[step.name].categories
                if categories is None:
                    raise ValueError(
                        f"the profile of categorical feature {step.name!r} has no bins"
                    )
                bins[step.name] = {c: i for i, c in enumerate(categories)}
        transform = plan.compile()
        table: list[float] = []
        shifts: list[int] = []
        unknown_bins: list[float] = []
        binned = True
        for step in transform.categorical:
            # The last bin takes what the profile does not know (unseen values); a vocabulary
            # entry the profile lacks counts there too, as a value looked up by name would.
            of, unknown = bins[step.name], len(bins[step.name]) - 1
            shifts.append(len(table) + 1)
            table += [float(unknown), *(float(of.get(c, unknown)) for c in step.vocabulary)]
            unknown_bins.append(float(unknown))
            binned = binned and all(of.get(c, unknown) != unknown for c in step.vocabulary)
        names = plan.names
        bin_shifts = np.array(shifts, dtype=np.intp).reshape(-1, 1)
        if not np.array_equal(bin_shifts, transform.shifts):  # one entry per cell serves both
            raise ValueError("the drift table's layout differs from the plan's")
        return cls(
            plan, FeatureSchema.of(plan, max_cell_bytes), transform, bins,
            np.array(table, dtype=np.float64), bin_shifts,
            np.array(unknown_bins, dtype=np.float64).reshape(-1, 1),
            column_index([i for i, n in enumerate(names) if n not in bins]),
            column_index([i for i, n in enumerate(names) if n in bins]), binned,
        )  # fmt: skip

    def with_fast_path(self, check: Columns) -> ServedFeatures:
        """These features with the shortcut on, if it gives what the general path gives on
        `check` (the version's held-out rows, sent as a client sends them: each row alone and
        all at once). A request the shortcut declines proves nothing and is allowed; one it
        takes must come out identical, or one the general path refuses must be declined."""
        fast = FastTyped(self.transform, self.schema.missing, self.schema.max_cell_bytes)
        rows = len(next(iter(check.values())))
        if not rows:
            return self
        alone = range(min(rows, _ROWS_CHECKED_ALONE))
        batches = [{k: v[i : i + 1] for k, v in check.items()} for i in alone]
        taken = [self._agrees(fast, wire_request(b, self.schema)) for b in [check, *batches]]
        if False not in taken and True in taken:
            return replace(self, fast=fast)
        log.warning(
            "typed requests take the general path: the shortcut %s the held-out rows",
            "disagreed with the general path on" if False in taken else "took none of",
        )
        return self

    def _agrees(self, fast: FastTyped, payload: dict[str, Any]) -> bool | None:
        """True: the shortcut took the request and gave the general path's answer; None: it
        declined; False: it took a request and answered otherwise (or one that is refused)."""
        taken = fast.take(payload, 1 << 62)
        if taken is None:
            return None
        try:
            decoded = typed_codec.decode_v2(payload, self.schema, False, 1 << 62)
            general = self.encode(decoded.columns)
        except InvalidInputError:
            return False
        shortcut = self._encoded(*taken)
        return (
            np.array_equal(shortcut.matrix, general.matrix, equal_nan=True)
            and np.array_equal(shortcut.drift_rows, general.drift_rows, equal_nan=True)
            and shortcut.unknown == general.unknown
        )

    def decode_v2(self, payload: dict[str, Any], classifier: bool, max_rows: int) -> TypedRequest:
        """A v2 request's tensors to the estimator's matrix and the drift rows: the shortcut
        for the common form, else the general decoding (which refuses what is wrong)."""
        taken = None if self.fast is None else self.fast.take(payload, max_rows)
        if taken is None:
            typed = typed_codec.decode_v2(payload, self.schema, classifier, max_rows)
            return TypedRequest(self.encode(typed.columns), typed.outputs, typed.request_id)
        outputs = codec.requested_outputs(payload.get("outputs"), classifier)
        request_id = payload.get("id")
        numbers, positions = taken
        return TypedRequest(
            self._encoded(numbers, positions, known=True),
            outputs,
            request_id if isinstance(request_id, str) else None,
        )

    def matrix(self, columns: Columns) -> NDArray[np.float64]:
        try:
            return self.transform(columns)
        except UnknownCategoryError as error:
            raise InvalidInputError(str(error)) from None

    def encode(self, columns: Columns) -> Encoded:
        """The estimator's matrix and the drift monitor's rows, each categorical cell looked
        up once for both; a 400 for an unknown category under `reject`."""
        try:
            positions = self.transform.positions(columns)
        except UnknownCategoryError as error:
            raise InvalidInputError(str(error)) from None
        return self._encoded(self.transform.numbers(columns), positions)

    def _encoded(
        self, numbers: NDArray[np.float64], positions: NDArray[np.intp], known: bool | None = None
    ) -> Encoded:
        """Matrix and drift rows; `known`: whether every position is in its vocabulary (None:
        look). The cells' entries in both tables are worked out once for both."""
        if known is None:
            known = not positions.size or bool(positions.min() >= 0)
        entries = positions + self.bin_shifts
        rows, unknown = self._drift(numbers, entries, known)
        matrix = self.transform.assemble_entries(numbers, entries, known=known)
        return Encoded(matrix, rows, unknown)

    def drift_rows(self, columns: Columns) -> tuple[NDArray[np.float64], dict[str, int]]:
        """The drift monitor's rows (one number per feature), and per categorical feature how
        many values were outside its vocabulary (those sit in the profile's last bin)."""
        try:
            positions = self.transform.positions(columns)
        except UnknownCategoryError:  # drift counts what arrives, refused or not
            positions = self._lenient().positions(columns)
        known = not positions.size or bool(positions.min() >= 0)
        return self._drift(self.transform.numbers(columns), positions + self.bin_shifts, known)

    def _drift(
        self, numbers: NDArray[np.float64], entries: NDArray[np.intp], known: bool
    ) -> tuple[NDArray[np.float64], dict[str, int]]:
        """Numeric features as received (NaN counted in their missing bin), categorical ones as
        their profile bins: one table lookup for all of them. `entries` are the cells'
        positions shifted to their feature's part of the table; `known`: no value is unknown."""
        n = numbers.shape[1]
        out = np.empty((n, len(self.schema.names)), dtype=np.float64)
        out[:, self.numeric_columns] = numbers.T
        if not len(entries):
            return out, {}
        binned = self.bin_tables[entries]
        out[:, self.categorical_columns] = binned.T
        if self.vocabulary_binned and known:
            # Every cell is in its vocabulary, and every vocabulary entry has a bin of its own:
            # nothing landed in an unknown bin (the usual request, checked in one call).
            return out, dict.fromkeys(self.drift_bins, 0)
        unknown = (binned == self.unknown_bins).sum(axis=1).tolist()
        return out, dict(zip(self.drift_bins, unknown, strict=True))

    def _lenient(self) -> PlanTransform:
        steps = [s.model_copy(update={"on_unknown": "ignore"}) for s in self.plan.features]
        return self.plan.model_copy(update={"features": steps}).compile()

    def acceptance_columns(self, acceptance: AcceptanceSet) -> Columns:
        """The version's typed held-out rows as request columns (null = missing)."""
        where = {name: i for i, name in enumerate(acceptance.features)}
        if absent := [n for n in self.schema.names if n not in where]:
            raise ValueError(f"acceptance set lacks features: {', '.join(absent)}")
        columns: Columns = {}
        for name in self.schema.names:
            cells = [row[where[name]] for row in acceptance.inputs]
            if name in self.schema.categorical:
                columns[name] = np.array(
                    [MISSING_CATEGORY if c is None else str(c) for c in cells], dtype=object
                )
            else:
                columns[name] = np.array(
                    [np.nan if c is None else float(c) for c in cells], dtype=np.float64
                )
        return columns


def wire_request(columns: Columns, schema: FeatureSchema) -> dict[str, Any]:
    """Raw columns as a client sends them: one [n] tensor per feature, null for missing."""
    inputs = []
    for name in schema.names:
        values = columns[name].tolist()
        if name in schema.categorical:
            data = [None if v == MISSING_CATEGORY else v for v in values]
        else:
            data = [None if v != v else v for v in values]
        inputs.append(
            {"name": name, "datatype": schema.datatype(name), "shape": [len(data)], "data": data}
        )
    return {"inputs": inputs}


def metadata_inputs(schema: FeatureSchema) -> list[dict[str, Any]]:
    """One OIP input per feature; BYTES ones say `content_type: str` (MLServer's convention)."""
    inputs: list[dict[str, Any]] = []
    for name in schema.names:
        tensor: dict[str, Any] = {"name": name, "datatype": schema.datatype(name), "shape": [-1]}
        if name in schema.categorical:
            tensor["parameters"] = {"content_type": "str"}
        inputs.append(tensor)
    return inputs
