"""The documents a catalog version is made of, as pydantic models.

These are the wire formats other components read (serving loads the acceptance set and the
profile, the acceptance Job compares digests), so they are spelled out here once and documented
in CONTRACT.md. JSON uses camelCase like the Kubernetes API; unknown fields are ignored on read so
a catalog written by a newer Modelship stays readable by an older one.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from modelship.contracts.production_data import ProductionUse

Task = Literal["classification", "regression"]
Label = int | float | str

METADATA_FORMAT = 1
"""Bumped when metadata.json changes incompatibly; readers refuse formats they do not know."""


class CatalogModel(BaseModel):
    """camelCase on disk, snake_case in Python, unknown fields ignored on read."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_json(self, indent: int | None = None) -> str:
        """Canonical JSON with sorted keys (equal documents are equal bytes); NaN is refused."""
        return json.dumps(
            self.model_dump(mode="json", by_alias=True),
            sort_keys=True,
            indent=indent,
            separators=(",", ": ") if indent else (",", ":"),
            allow_nan=False,
        )


class AlgorithmInfo(CatalogModel):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class DatasetInfo(CatalogModel):
    uri: str
    digest: str
    rows: int = Field(ge=0)


class FeatureInfo(CatalogModel):
    """One input feature: `float64` numbers, or `string` categories (typed features only)."""

    name: str
    dtype: str = "float64"
    type: Literal["numeric", "categorical"] = "numeric"


class TargetInfo(CatalogModel):
    name: str
    classes: list[Label] | None = None


class GateResult(CatalogModel):
    """One quality gate applied to the held-out metrics.

    `bound` is human-readable (">= 0.9", "<= 0.2", ">= 0.8 and <= 0.95"); `min`/`max` carry the
    numbers. `value` is None when the metric could not be computed, which fails the gate.
    """

    metric: str
    value: float | None
    bound: str
    min: float | None = None
    max: float | None = None
    passed: bool


class EvaluationInfo(CatalogModel):
    test_fraction: float
    seed: int
    train_rows: int
    test_rows: int


class FrameworkInfo(CatalogModel):
    """The library whose own format holds the model (XGBoost, LightGBM), and its version then.

    Absent for scikit-learn models (their versions are in `libraries`). A reader refuses a model
    written by a newer version of the library than the one it has (catalog.boosters).
    """

    name: str
    version: str


class Libraries(CatalogModel):
    python: str
    sklearn: str
    joblib: str
    numpy: str
    skops: str | None = None


class VersionMetadata(CatalogModel):
    """metadata.json: what a version is, how it was made, and the digest of every other file."""

    format_version: int = METADATA_FORMAT
    version: int = Field(ge=1)
    digest: str
    namespace: str
    model: str
    task: Task
    algorithm: AlgorithmInfo
    dataset: DatasetInfo
    features: list[FeatureInfo]
    target: TargetInfo
    metrics: dict[str, float] = Field(default_factory=dict)
    gates: list[GateResult] = Field(default_factory=list)
    evaluation: EvaluationInfo | None = None
    files: dict[str, str]
    training_job: str | None = None
    created_at: str
    libraries: Libraries
    framework: FrameworkInfo | None = None
    production: ProductionUse | None = None
    """Labelled production rows it was trained on, their window and segments, and the live
    gate (spec.dataset.production); absent when it was trained on the dataset alone."""

    @property
    def gates_passed(self) -> bool:
        """True when every recorded gate passed (vacuously true without gates)."""
        return all(gate.passed for gate in self.gates)


class AcceptanceSet(CatalogModel):
    """acceptance.json: held-out rows the test stage sends to the served model."""

    features: list[str]
    inputs: list[list[float | str | None]]
    """Rows of numbers; with typed features also category strings, and null for missing."""
    targets: list[Label]

    @model_validator(mode="after")
    def _rectangular(self) -> AcceptanceSet:
        if len(self.inputs) != len(self.targets):
            raise ValueError("acceptance set has a different number of inputs and targets")
        width = len(self.features)
        if any(len(row) != width for row in self.inputs):
            raise ValueError(f"every acceptance row must have {width} values")
        return self


class FeatureProfile(CatalogModel):
    """Reference distribution of one feature: k bins with finite edges (k+1) and frequencies."""

    name: str
    edges: list[float] = Field(min_length=2)
    frequencies: list[float] = Field(min_length=1)
    categories: list[str] | None = None
    """Categorical features: bin i is categories[i] (edges are i - 0.5 .. i + 0.5)."""
    missing: float | None = Field(default=None, ge=0, le=1)
    """Typed numeric features: the training rows' share of missing values (the bins describe
    the present ones)."""

    @field_validator("edges")
    @classmethod
    def _finite_increasing(cls, edges: list[float]) -> list[float]:
        if not all(math.isfinite(edge) for edge in edges):
            raise ValueError("profile edges must be finite")
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError("profile edges must be strictly increasing")
        return edges

    @model_validator(mode="after")
    def _one_frequency_per_bin(self) -> FeatureProfile:
        if len(self.frequencies) != len(self.edges) - 1:
            raise ValueError(f"feature {self.name}: need len(edges) - 1 frequencies")
        if abs(sum(self.frequencies) - 1.0) > 1e-6:
            raise ValueError(f"feature {self.name}: frequencies must sum to 1")
        if self.categories is not None and len(self.categories) != len(self.frequencies):
            raise ValueError(f"feature {self.name}: need one frequency per category")
        return self


class Profile(CatalogModel):
    """profile.json: the training data's per-feature distribution, the baseline for drift."""

    features: list[FeatureProfile]
