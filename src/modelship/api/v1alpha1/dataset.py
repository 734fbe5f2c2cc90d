"""The dataset part of a Model: where the training data comes from, which columns (typed or
not) and which cells mean missing, and whether labelled production rows join it."""

from __future__ import annotations

from pydantic import Field, model_validator

from modelship.api.v1alpha1.base import ApiModel, cel_rules
from modelship.api.v1alpha1.features import (
    DEFAULT_MISSING_VALUES,
    FeatureSpec,
    check_missing_values,
    normalise,
)
from modelship.api.v1alpha1.production_data import ProductionDataSpec

DATASET_URI_PATTERN = (
    r"^(builtin:(iris|wine|breast_cancer|digits|diabetes|churn_synthetic)|file:///.+|https?://.+)$"
)


class DatasetSpec(ApiModel):
    """Where the training data comes from and which columns to use."""

    model_config = cel_rules(
        (
            "self.uri.startsWith('builtin:') || (has(self.target) && size(self.target) > 0)",
            "dataset.target is required for CSV datasets",
        ),
    )

    uri: str = Field(
        pattern=DATASET_URI_PATTERN,
        description=(
            "builtin:<name> for a dataset scikit-learn ships (iris, wine, breast_cancer, digits, "
            "diabetes) or churn_synthetic (a generated mixed-type table: numbers, categories "
            "and gaps; declare its features), file:///path/to/data.csv for a CSV on the catalog "
            "volume or the trainer's filesystem, or an http(s):// URL of a CSV."
        ),
    )
    target: str | None = Field(
        default=None,
        min_length=1,
        description="Column to predict; required for CSV datasets (builtin ones have their own).",
    )
    features: list[str | FeatureSpec] | None = Field(
        default=None,
        min_length=1,
        description=(
            "Columns to train on (default: every column except the target). A bare name is a "
            "numeric column; an object {name, type: numeric|categorical, impute, fillValue, "
            "categories, onUnknown, maxCategories} declares a typed feature."
        ),
    )
    missing_values: list[str] | None = Field(
        default=None,
        max_length=64,
        description=(
            "Cells that mean 'missing', in the CSV and in BYTES values on the wire (default: "
            + ", ".join(repr(v) for v in DEFAULT_MISSING_VALUES)
            + "; matched exactly after trimming spaces)."
        ),
    )
    production: ProductionDataSpec | None = Field(
        default=None,
        description="Also train on labelled production rows (captured inputs joined with their "
        "labels), weighted and capped; the newest labelled window is held out and a candidate "
        "must score at least as well as production on it. Needs spec.monitoring.capture.",
    )

    @model_validator(mode="after")
    def _features_named_once(self) -> DatasetSpec:
        if self.features is None:
            return self
        names = [f if isinstance(f, str) else f.name for f in self.features]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"dataset.features: {', '.join(map(repr, twice))} listed twice")
        if self.target is not None and self.target in names:
            raise ValueError(f"dataset.features: the target {self.target!r} cannot be a feature")
        if self.typed:
            check_missing_values(self.missing_vocabulary, normalise(self.features))
        return self

    @property
    def is_builtin(self) -> bool:
        return self.uri.startswith("builtin:")

    @property
    def typed(self) -> bool:
        """Whether the features are typed (one declared as an object, or a missing vocabulary
        given): then the version carries a fitted preprocessing plan. A list of bare names
        alone trains exactly as before: numbers only, no gaps."""
        return self.missing_values is not None or any(
            isinstance(f, FeatureSpec) for f in self.features or ()
        )

    @property
    def missing_vocabulary(self) -> list[str]:
        return list(DEFAULT_MISSING_VALUES if self.missing_values is None else self.missing_values)

    def feature_names(self) -> list[str] | None:
        """The feature columns by name, or None for every column except the target."""
        if self.features is None:
            return None
        return [f if isinstance(f, str) else f.name for f in self.features]

    def feature_specs(self) -> list[FeatureSpec] | None:
        """Every declared feature as a FeatureSpec (bare names are numeric)."""
        return None if self.features is None else normalise(self.features)
