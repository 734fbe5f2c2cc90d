"""Typed features: what each column of a Model's dataset is, and how its gaps are filled.

A feature is either a bare column name (a number, today's meaning) or an object naming its type.
The preprocessing these describe is fitted by the trainer on the training rows and stored in the
version as plain data (`contracts.features.FeaturePlan`), so serving applies it without loading
code. The vocabulary of missing values is one list shared by CSV cells and values on the wire, so
a cell the trainer saw as missing is missing in a request too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from modelship.api.v1alpha1.base import ApiModel

FeatureType = Literal["numeric", "categorical"]
Impute = Literal["median", "mean", "constant", "none"]
OnUnknown = Literal["ignore", "reject"]

DEFAULT_MISSING_VALUES = ("", "NA", "N/A", "null", "NaN", "None")
MISSING_CATEGORY = "__missing__"
"""The category a missing categorical cell becomes (reserved: no real category may use it)."""

# Estimators that split on NaN themselves, so `impute: none` may hand them gaps unchanged.
# xgboost and lightgbm are listed ahead of their arrival in the algorithm list: naming them here
# costs nothing while they are absent, and keeps this rule in one place when they come.
NAN_NATIVE_ALGORITHMS = frozenset(
    {"hist_gradient_boosting", "hist_gradient_boosting_regressor", "xgboost", "lightgbm"}
)
MAX_CATEGORY_LENGTH = 1024
"""Longest category (in UTF-8 bytes) a vocabulary may hold; serving refuses longer cells too."""


class FeatureSpec(ApiModel):
    """One typed feature column."""

    name: str = Field(min_length=1, description="Column name in the dataset (and input name).")
    type: FeatureType = Field(
        default="numeric", description="numeric (a number) or categorical (a label, sent as text)."
    )
    impute: Impute | None = Field(
        default=None,
        description=(
            "Numeric only: how a missing value is filled: median (default) or mean of the "
            "training rows, constant (fillValue), or none to keep it missing for estimators "
            "that handle gaps themselves (hist_gradient_boosting)."
        ),
    )
    fill_value: float | None = Field(
        default=None, description="The value `impute: constant` fills in."
    )
    categories: list[str] | None = Field(
        default=None,
        min_length=1,
        description=(
            "Categorical only: the fixed vocabulary (default: the values seen in training). "
            "Missing is always a category of its own."
        ),
    )
    on_unknown: OnUnknown | None = Field(
        default=None,
        description=(
            "Categorical only: a value outside the vocabulary is ignored (default: no category "
            "set) or rejected (training fails naming it, a request gets a 400)."
        ),
    )
    max_categories: int | None = Field(
        default=None,
        ge=2,
        le=10000,
        description=(
            "Categorical only: keep the most frequent maxCategories - 1 categories and pool "
            "the rarer ones into one 'other' category."
        ),
    )

    @model_validator(mode="after")
    def _fits_its_type(self) -> FeatureSpec:
        where = f"feature {self.name!r}"
        if self.type == "numeric":
            categorical_only: list[tuple[str, object]] = [
                ("categories", self.categories),
                ("onUnknown", self.on_unknown),
                ("maxCategories", self.max_categories),
            ]
            for field, value in categorical_only:
                if value is not None:
                    raise ValueError(f"{where}: {field} applies to categorical features only")
            if self.impute == "constant" and self.fill_value is None:
                raise ValueError(f"{where}: impute constant needs fillValue")
            if self.fill_value is not None and self.impute != "constant":
                raise ValueError(f"{where}: fillValue is used only with impute constant")
            return self
        numeric_only: list[tuple[str, object]] = [
            ("impute", self.impute),
            ("fillValue", self.fill_value),
        ]
        for field, value in numeric_only:
            if value is not None:
                raise ValueError(
                    f"{where}: {field} applies to numeric features only "
                    f"(a missing category is a category of its own)"
                )
        if self.categories is not None:
            if len(set(self.categories)) != len(self.categories):
                twice = sorted({c for c in self.categories if self.categories.count(c) > 1})
                raise ValueError(f"{where}: categories repeat {', '.join(map(repr, twice))}")
            if MISSING_CATEGORY in self.categories:
                raise ValueError(f"{where}: {MISSING_CATEGORY!r} is reserved for missing values")
            if long := [c for c in self.categories if len(c.encode()) > MAX_CATEGORY_LENGTH]:
                raise ValueError(
                    f"{where}: category {long[0][:40]!r}... is longer than "
                    f"{MAX_CATEGORY_LENGTH} bytes"
                )
        return self

    @property
    def numeric_impute(self) -> Impute:
        """The impute rule in force (median when not given)."""
        return self.impute or "median"

    @property
    def unknown_policy(self) -> OnUnknown:
        return self.on_unknown or "ignore"


def normalise(features: list[str | FeatureSpec]) -> list[FeatureSpec]:
    """Every entry as a FeatureSpec: a bare name is a numeric feature with the default impute."""
    return [FeatureSpec(name=f) if isinstance(f, str) else f for f in features]


def check_missing_values(values: list[str], specs: list[FeatureSpec]) -> None:
    """A category that is also a missing value could never be seen: refuse the contradiction."""
    missing = set(values)
    for spec in specs:
        if both := sorted(missing.intersection(spec.categories or ())):
            raise ValueError(
                f"feature {spec.name!r}: categories {', '.join(map(repr, both))} are also "
                "listed in missingValues"
            )
