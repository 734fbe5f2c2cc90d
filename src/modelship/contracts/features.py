"""The fitted feature plan: trainer -> serving (through the catalog version's `features.json`).

A version trained on typed features stores how its raw columns become the estimator's matrix as
plain data: per feature the impute value, or the category vocabulary and its codes. No code and
no pickle: serving rebuilds the transform from this document (`FeaturePlan.compile`, the numpy
of `plan_transform.py`) and loads no type it does not already know. The trainer fits the plan on
the training rows only and, before publishing, checks that `transform` equals scikit-learn's
`ColumnTransformer` configured the same way on the held-out rows (`training/plan_check.py`), so
both sides mean the same thing.

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

from typing import TYPE_CHECKING, Annotated, Any, Literal

from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from modelship.api.v1alpha1.features import MISSING_CATEGORY

if TYPE_CHECKING:
    from modelship.contracts.plan_transform import PlanTransform

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
        from modelship.contracts.plan_transform import PlanTransform  # it imports this module

        return PlanTransform(self)


__all__ = [
    "MISSING_CATEGORY",
    "OTHER_COLUMN",
    "PLAN_FORMAT",
    "CategoricalStep",
    "Columns",
    "FeaturePlan",
    "NumericStep",
    "UnknownCategoryError",
]
