"""The `TrainingJob` kind: one training run of a Model, frozen at the moment it was asked for."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelship.api.v1alpha1.base import ApiModel, Condition, ObjectRef
from modelship.api.v1alpha1.model import TrainingSnapshot
from modelship.api.v1alpha1.production_data import ProductionRowsStatus

Trigger = Literal["spec-change", "drift", "performance", "schedule", "dataset-change", "manual"]
TrainingPhase = Literal["Pending", "Running", "Succeeded", "Failed"]


class TrainingJobSpec(ApiModel):
    """Why this run exists and exactly what it trains; immutable once created."""

    model_ref: ObjectRef = Field(description="The Model this run belongs to.")
    trigger: Trigger = Field(description="What started the run.")
    reason: str = Field(default="", description="Human-readable cause of the run.")
    model_generation: int = Field(ge=1, description="Model generation the snapshot was taken at.")
    snapshot: TrainingSnapshot = Field(description="The Model's training spec at that generation.")


class Artifact(ApiModel):
    """Where the produced version lives in the catalog."""

    uri: str = Field(description="Catalog URI of the version.")
    digest: str = Field(description="Content digest of the version (sha256:...).")


class GateResult(ApiModel):
    """The outcome of one quality gate."""

    metric: str = Field(description="Metric the gate checks.")
    value: float | None = Field(default=None, description="Measured value.")
    bound: str = Field(description="The bound, e.g. '>= 0.9'.")
    passed: bool = Field(description="Whether the value is within the bound.")


class Failure(ApiModel):
    """Why the run failed."""

    reason: str = Field(description="CamelCase reason.")
    message: str = Field(description="Details, from the trainer when it said why.")


class TrainingJobStatus(ApiModel):
    """What the operator observed about this run."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    observed_generation: int | None = Field(default=None, description="Last generation acted on.")
    phase: TrainingPhase | None = Field(default=None, description="Summary of the conditions.")
    conditions: list[Condition] = Field(default_factory=list, description="Observations.")
    attempts: int = Field(default=0, ge=0, description="Training attempts started so far.")
    job_name: str | None = Field(
        default=None, description="The batch/v1 Job of the current attempt."
    )
    start_time: str | None = Field(default=None, description="When the first attempt started.")
    completion_time: str | None = Field(default=None, description="When the run finished.")
    version: int | None = Field(default=None, description="Catalog version produced.")
    artifact: Artifact | None = Field(default=None, description="Catalog location and digest.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Held-out metrics.")
    score: str | None = Field(default=None, description="Primary metric, e.g. accuracy=0.967.")
    gates: list[GateResult] = Field(default_factory=list, description="Gate outcomes.")
    dataset_digest: str | None = Field(
        default=None, description="Digest of the data the trainer read (sha256:...)."
    )
    code_digest: str | None = Field(
        default=None,
        description="Digest of the training code that ran (sha256:...), for spec.training.code.",
    )
    production: ProductionRowsStatus | None = Field(
        default=None,
        description="Labelled production rows trained on (spec.dataset.production).",
    )
    failure: Failure | None = Field(
        default=None, description="Why the run (or last attempt) failed."
    )
    next_attempt_time: str | None = Field(
        default=None,
        description="When the next attempt starts, while backing off after a transient failure.",
    )


class TrainingJob(ApiModel):
    """One training run of a Model."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    spec: TrainingJobSpec
    status: TrainingJobStatus = Field(default_factory=TrainingJobStatus)
