"""The `Model` kind: what to train, how to judge it, and when to train it again."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from modelship.api.v1alpha1.algorithms import (
    ALGORITHMS,
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    AlgorithmName,
    Task,
)

# MetricName is re-exported: deployment.py has always imported it from here.
from modelship.api.v1alpha1.algorithms import MetricName as MetricName
from modelship.api.v1alpha1.base import ApiModel, Condition, ResourceRequirements, cel_rules
from modelship.api.v1alpha1.dataset import DatasetSpec
from modelship.api.v1alpha1.features import NAN_NATIVE_ALGORITHMS
from modelship.api.v1alpha1.monitoring import MonitoringSpec
from modelship.api.v1alpha1.retraining import RetrainingSpec, RetrainingStatus
from modelship.api.v1alpha1.training_code import TrainingCodeSpec


class AlgorithmSpec(ApiModel):
    """The estimator to fit (scikit-learn, XGBoost or LightGBM) and its hyperparameters."""

    name: AlgorithmName = Field(
        description="Estimator from Modelship's allow-list; xgboost and lightgbm solve either task."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Hyperparameters passed to the estimator (for example n_estimators: 100).",
    )


class Gate(ApiModel):
    """A quality bar a new version must clear on the held-out split to be used."""

    model_config = cel_rules(
        (
            "has(self.min) || has(self.max) || has(self.minImprovement)",
            "a gate needs min or max (or minImprovement)",
        ),
        ("!has(self.min) || !has(self.max) || self.min <= self.max", "gate min is above max"),
    )

    metric: MetricName = Field(description="Metric the gate checks.")
    min: float | None = Field(default=None, description="Lowest acceptable value (inclusive).")
    max: float | None = Field(default=None, description="Highest acceptable value (inclusive).")
    min_improvement: float | None = Field(
        default=None,
        ge=0,
        description=(
            "Champion comparison: the new version must beat the version in production by at "
            "least this margin on this metric (higher is better, except rmse and mae). Ignored "
            "while nothing is in production."
        ),
    )

    @model_validator(mode="after")
    def _has_a_bound(self) -> Gate:
        if self.min is None and self.max is None and self.min_improvement is None:
            raise ValueError(f"gate on {self.metric} needs min or max (or minImprovement)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"gate on {self.metric} has min {self.min} above max {self.max}")
        return self


class EvaluationSpec(ApiModel):
    """How a trained estimator is evaluated, and the gates it must pass."""

    test_fraction: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Share of rows held out for evaluation and acceptance (0 < x < 1).",
    )
    seed: int = Field(default=42, ge=0, description="Seed for the split and the estimator.")
    gates: list[Gate] = Field(
        default_factory=list,
        max_length=64,
        description="Quality gates; a version that fails any of them is never deployed.",
    )


class TrainingSpec(ApiModel):
    """How the training pod runs."""

    image: str | None = Field(
        default=None,
        description="Trainer image (default: the operator's configured modelship image).",
    )
    resources: ResourceRequirements | None = Field(
        default=None,
        description="Requests and limits of the training container.",
    )
    timeout_seconds: int = Field(
        default=3600,
        ge=10,
        le=7 * 24 * 3600,
        description="Wall-clock limit of one training attempt (the Job's activeDeadlineSeconds).",
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Attempts before the TrainingJob is marked Failed.",
    )
    code: TrainingCodeSpec | None = Field(
        default=None,
        description="Your own training code instead of spec.algorithm (exactly one of the two).",
    )


_PRODUCTION_NEEDS_ALGORITHM = (
    "dataset.production needs a built-in algorithm: training.code receives the dataset's "
    "rows only, with no per-row weights and no live gate"
)


class TrainingSnapshot(ApiModel):
    """Everything the trainer needs, copied from the Model when a TrainingJob is created."""

    model_config = cel_rules(
        (
            "has(self.algorithm) != (has(self.training) && has(self.training.code))",
            "set exactly one of algorithm (a built-in estimator) and training.code "
            "(your own training function)",
        ),
        (
            "!has(self.training) || !has(self.training.code) "
            "|| (has(self.training.code.timeoutSeconds) ? self.training.code.timeoutSeconds : 600)"
            " < (has(self.training.timeoutSeconds) ? self.training.timeoutSeconds : 3600)",
            "training.code.timeoutSeconds must be less than training.timeoutSeconds, the whole "
            "pod's",
        ),
        (
            "!has(self.evaluation) || !has(self.evaluation.gates) || self.evaluation.gates.all("
            "gate, self.task == 'classification' "
            f"? gate.metric in {list(CLASSIFICATION_METRICS)} "
            f": gate.metric in {list(REGRESSION_METRICS)})",
            "evaluation.gates: a gate's metric must apply to the task (classification: "
            f"{', '.join(CLASSIFICATION_METRICS)}; regression: {', '.join(REGRESSION_METRICS)})",
        ),
        (
            "!has(self.dataset.production) || has(self.algorithm)",
            _PRODUCTION_NEEDS_ALGORITHM,
        ),
    )

    task: Task = Field(description="classification or regression.")
    dataset: DatasetSpec = Field(description="Where the data comes from.")
    algorithm: AlgorithmSpec | None = Field(
        default=None,
        description="Built-in estimator and hyperparameters (exactly one of algorithm and "
        "training.code).",
    )
    evaluation: EvaluationSpec = Field(
        default_factory=EvaluationSpec,
        description="Held-out split and quality gates.",
    )
    training: TrainingSpec = Field(
        default_factory=TrainingSpec,
        description="How the training pod runs.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrainingSnapshot:
        """Cross-field rules; those CEL can express are also the API server's (cel_rules)."""
        if (self.algorithm is None) == (self.training.code is None):
            raise ValueError(
                "set exactly one of algorithm (a built-in estimator) and training.code "
                "(your own training function)"
            )
        code = self.training.code
        if code is not None and code.timeout_seconds >= self.training.timeout_seconds:
            # Past the pod's deadline the Job is failed as a cluster fault and retried; the
            # code's own limit must come first so that a slow function fails once, named.
            raise ValueError(
                f"training.code.timeoutSeconds ({code.timeout_seconds}) must be less than "
                f"training.timeoutSeconds ({self.training.timeout_seconds}), the whole pod's"
            )
        if self.algorithm is not None and self.task not in (
            expected := ALGORITHMS[self.algorithm.name]
        ):
            raise ValueError(
                f"algorithm.name {self.algorithm.name!r} is a {' or '.join(expected)} "
                f"estimator, but task is {self.task!r}"
            )
        if not self.dataset.is_builtin and not self.dataset.target:
            raise ValueError("dataset.target is required for CSV datasets")
        if self.dataset.production is not None and self.algorithm is None:
            raise ValueError(_PRODUCTION_NEEDS_ALGORITHM)
        name = self.algorithm.name if self.algorithm is not None else "training.code"
        for spec in self.dataset.feature_specs() or ():
            if spec.impute == "none" and name not in NAN_NATIVE_ALGORITHMS:
                raise ValueError(
                    f"dataset.features: {spec.name!r} has impute none, but "
                    f"{name} cannot train on missing values; use one of "
                    f"{', '.join(sorted(NAN_NATIVE_ALGORITHMS))} or another impute"
                )
        allowed = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        for gate in self.evaluation.gates:
            if gate.metric not in allowed:
                raise ValueError(
                    f"evaluation.gates: metric {gate.metric!r} does not apply to {self.task}; "
                    f"use one of {', '.join(allowed)}"
                )
        return self


class ModelSpec(TrainingSnapshot):
    """What to train, how to judge it, and when to train it again."""

    retraining: RetrainingSpec = Field(
        default_factory=RetrainingSpec,
        description="Continuous-training policy.",
    )
    monitoring: MonitoringSpec = Field(
        default_factory=MonitoringSpec,
        description="Prediction ids, capture of served predictions and label feedback.",
    )
    suspend: bool = Field(
        default=False,
        description="Start no TrainingJob for this Model (for any trigger) while true; status "
        "is still kept current, and requests that arrive meanwhile wait for the resume.",
    )

    def snapshot(self) -> TrainingSnapshot:
        """The training-relevant part of the spec, as a TrainingJob records it."""
        return TrainingSnapshot.model_validate(
            self.model_dump(by_alias=True, exclude={"retraining", "suspend", "monitoring"})
        )


class VersionSummary(ApiModel):
    """A catalog version produced by this Model."""

    version: int = Field(description="Catalog version number.")
    digest: str = Field(description="Content digest of the version (sha256:...).")
    artifact: str | None = Field(
        default=None,
        description="Where it lives (in a registry: the manifest pinned by digest).",
    )
    metrics: dict[str, float] = Field(default_factory=dict, description="Held-out metrics.")
    score: str | None = Field(default=None, description="Primary metric, e.g. accuracy=0.967.")
    training_job: str | None = Field(default=None, description="TrainingJob that produced it.")
    passed_gates: bool | None = Field(default=None, description="Whether it passed every gate.")
    created_at: str | None = Field(default=None, description="When it was published.")
    dataset_digest: str | None = Field(
        default=None, description="Digest of the data it was trained on, as the trainer read it."
    )
    code_digest: str | None = Field(
        default=None, description="Digest of the training code that produced it (script mode)."
    )


class ModelStatus(ApiModel):
    """What the operator observed about this Model."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    observed_generation: int | None = Field(default=None, description="Last generation acted on.")
    phase: str | None = Field(default=None, description="Summary of the conditions.")
    conditions: list[Condition] = Field(default_factory=list, description="Observations.")
    latest_version: VersionSummary | None = Field(
        default=None,
        description="Newest version that passed its gates.",
    )
    versions: list[VersionSummary] = Field(
        default_factory=list,
        description="Recent versions, newest first.",
    )
    active_training_job: str | None = Field(
        default=None,
        description="The TrainingJob running now, if any.",
    )
    pending_trigger: str | None = Field(
        default=None,
        description="A training request waiting for the active TrainingJob to finish.",
    )
    last_training_time: str | None = Field(
        default=None,
        description="When the newest TrainingJob was created.",
    )
    retrain_annotation: str | None = Field(
        default=None,
        description="Value of modelship.io/retrain last acted on.",
    )
    retraining: RetrainingStatus | None = Field(
        default=None,
        description="Automatic retraining: the last decision and why.",
    )


class Model(ApiModel):
    """A machine-learning model the operator trains, versions and keeps fresh."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    spec: ModelSpec
    status: ModelStatus = Field(default_factory=ModelStatus)
