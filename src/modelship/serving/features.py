"""A served version's typed features: request columns -> the estimator's matrix, and drift.

Built once at load from the version's `features.json` (plain data, digest-verified like every
other file): the plan's numpy transform and the request schema. Per request it turns decoded
columns into the matrix the runtime predicts on, refusing an unknown category under `reject`
with a 400, and gives the drift monitor one number per feature and row: the raw value for a
numeric feature (NaN when missing, counted in its own bin), the bin of the category in the
reference profile for a categorical one (missing and unseen values have bins of their own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelship.api.v1alpha1 import MISSING_CATEGORY
from modelship.catalog import AcceptanceSet, FeatureProfile
from modelship.contracts.features import (
    CategoricalStep,
    Columns,
    FeaturePlan,
    PlanTransform,
    UnknownCategoryError,
)
from modelship.serving.errors import InvalidInputError
from modelship.serving.typed_codec import FeatureSchema


@dataclass(frozen=True, slots=True)
class ServedFeatures:
    plan: FeaturePlan
    schema: FeatureSchema
    transform: PlanTransform
    drift_bins: dict[str, dict[str, int]]
    """Categorical feature -> category -> its bin in the reference profile."""

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
        return cls(plan, FeatureSchema.of(plan, max_cell_bytes), plan.compile(), bins)

    def matrix(self, columns: Columns) -> NDArray[np.float64]:
        try:
            return self.transform(columns)
        except UnknownCategoryError as error:
            raise InvalidInputError(str(error)) from None

    def drift_rows(self, columns: Columns) -> tuple[NDArray[np.float64], dict[str, int]]:
        """The drift monitor's rows (one number per feature), and per categorical feature how
        many values were outside its vocabulary (those sit in the profile's last bin)."""
        n = len(columns[self.schema.names[0]])
        out = np.empty((n, len(self.schema.names)), dtype=np.float64)
        unknown_counts: dict[str, int] = {}
        for i, name in enumerate(self.schema.names):
            bins = self.drift_bins.get(name)
            if bins is None:
                out[:, i] = columns[name]
                continue
            unknown = len(bins) - 1
            get = bins.get
            codes = [get(v, unknown) for v in columns[name].tolist()]
            out[:, i] = codes
            unknown_counts[name] = codes.count(unknown)
        return out, unknown_counts

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


def metadata_inputs(schema: FeatureSchema) -> list[dict[str, Any]]:
    """One OIP input per feature; BYTES ones say `content_type: str` (MLServer's convention)."""
    inputs: list[dict[str, Any]] = []
    for name in schema.names:
        tensor: dict[str, Any] = {"name": name, "datatype": schema.datatype(name), "shape": [-1]}
        if name in schema.categorical:
            tensor["parameters"] = {"content_type": "str"}
        inputs.append(tensor)
    return inputs
