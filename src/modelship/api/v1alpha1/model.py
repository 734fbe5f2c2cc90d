"""The `Model` kind: what to train, how to judge it, and when to train it again."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from modelship.api.v1alpha1.base import ApiModel, Condition, ResourceRequirements

Task = Literal["classification", "regression"]

BUILTIN_DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")

# The estimators a Model may name, and the task each one solves. The trainer maps the same names
# to scikit-learn classes; keeping the list here lets the API server refuse a typo with a 422.
ALGORITHMS: dict[str, Task] = {
    "logistic_regression": "classification",
    "random_forest": "classification",
    "gradient_boosting": "classification",
    "hist_gradient_boosting": "classification",
    "svc": "classification",
    "knn": "classification",
    "decision_tree": "classification",
    "linear_regression": "regression",
    "ridge": "regression",
    "lasso": "regression",
    "random_forest_regressor": "regression",
    "gradient_boosting_regressor": "regression",
    "hist_gradient_boosting_regressor": "regression",
    "svr": "regression",
}
AlgorithmName = Literal[
    "logistic_regression",
    "random_forest",
    "gradient_boosting",
    "hist_gradient_boosting",
    "svc",
    "knn",
    "decision_tree",
    "linear_regression",
    "ridge",
    "lasso",
    "random_forest_regressor",
    "gradient_boosting_regressor",
    "hist_gradient_boosting_regressor",
    "svr",
]

# Metrics the trainer computes; gates and acceptance bounds may name only these.
CLASSIFICATION_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "roc_auc",
)
REGRESSION_METRICS = ("r2", "rmse", "mae")
MetricName = Literal[
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "roc_auc",
    "r2",
    "rmse",
    "mae",
]
PRIMARY_METRIC: dict[str, str] = {"classification": "accuracy", "regression": "r2"}

DATASET_URI_PATTERN = (
    r"^(builtin:(iris|wine|breast_cancer|digits|diabetes)|file:///.+|https?://.+)$"
)


class DatasetSpec(ApiModel):
    """Where the training data comes from and which columns to use."""

    uri: str = Field(
        pattern=DATASET_URI_PATTERN,
        description=(
            "builtin:<name> for a dataset scikit-learn ships (iris, wine, breast_cancer, digits, "
            "diabetes), file:///path/to/data.csv for a CSV on the catalog volume or the trainer's "
            "filesystem, or an http(s):// URL of a CSV."
        ),
    )
    target: str | None = Field(
        default=None,
        min_length=1,
        description="Column to predict; required for CSV datasets (builtin ones have their own).",
    )
    features: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Columns to train on (default: every column except the target).",
    )

    @property
    def is_builtin(self) -> bool:
        return self.uri.startswith("builtin:")


class AlgorithmSpec(ApiModel):
    """The scikit-learn estimator to fit and its hyperparameters."""

    name: AlgorithmName = Field(description="Estimator from Modelship's allow-list.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Hyperparameters passed to the estimator (for example n_estimators: 100).",
    )


# Metrics where smaller is better; a champion comparison improves downwards for these.
LOWER_IS_BETTER = ("rmse", "mae")


class Gate(ApiModel):
    """A quality bar a new version must clear on the held-out split to be used."""

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


class DriftPolicy(ApiModel):
    """When drift measured in production starts a retraining."""

    threshold: float = Field(
        default=0.2,
        gt=0,
        description="Population stability index above which the model is retrained.",
    )
    cooldown_seconds: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Minimum time after the last automatic training before drift may start another "
            "(default: retraining.cooldownSeconds)."
        ),
    )
    min_rows: int = Field(
        default=100,
        ge=1,
        description="Live rows that must have been observed before drift is trusted.",
    )
    aggregate: Literal["mean", "max"] = Field(
        default="mean",
        description=(
            "Which PSI is held to the threshold: the mean over features (robust to noise in "
            "models with many features) or the worst single feature (more sensitive)."
        ),
    )


class RetrainingSpec(ApiModel):
    """When the Model is trained again."""

    on_spec_change: bool = Field(
        default=True,
        description="Train a new version when the training-relevant spec changes.",
    )
    on_dataset_change: bool = Field(
        default=False,
        description="Train a new version when the dataset's content changes.",
    )
    schedule: str | None = Field(
        default=None,
        description="Retrain on a schedule: a cron expression ('0 3 * * *') or an interval ('6h').",
    )
    drift: DriftPolicy | None = Field(
        default=None,
        description="Retrain when production reports drift above a threshold.",
    )
    history_limit: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Finished TrainingJobs kept per Model; older ones are deleted.",
    )
    max_per_day: int = Field(
        default=6,
        ge=1,
        le=1440,
        description="Cap on automatic trainings in any 24 hours.",
    )
    cooldown_seconds: int = Field(
        default=3600,
        ge=0,
        description=(
            "Minimum time between two automatic trainings (drift, schedule, dataset-change); "
            "manual and spec-change trainings neither wait for it nor restart it."
        ),
    )


class TrainingSnapshot(ApiModel):
    """Everything the trainer needs, copied from the Model when a TrainingJob is created."""

    task: Task = Field(description="classification or regression.")
    dataset: DatasetSpec = Field(description="Where the data comes from.")
    algorithm: AlgorithmSpec = Field(description="Estimator and hyperparameters.")
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
        """Cross-field rules the 1.20 API server cannot express (no CEL there)."""
        expected = ALGORITHMS[self.algorithm.name]
        if expected != self.task:
            raise ValueError(
                f"algorithm.name {self.algorithm.name!r} is a {expected} estimator, "
                f"but task is {self.task!r}"
            )
        if not self.dataset.is_builtin and not self.dataset.target:
            raise ValueError("dataset.target is required for CSV datasets")
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

    def snapshot(self) -> TrainingSnapshot:
        """The training-relevant part of the spec, as a TrainingJob records it."""
        return TrainingSnapshot.model_validate(
            self.model_dump(by_alias=True, exclude={"retraining"})
        )


class VersionSummary(ApiModel):
    """A catalog version produced by this Model."""

    version: int = Field(description="Catalog version number.")
    digest: str = Field(description="Content digest of the version (sha256:...).")
    metrics: dict[str, float] = Field(default_factory=dict, description="Held-out metrics.")
    score: str | None = Field(default=None, description="Primary metric, e.g. accuracy=0.967.")
    training_job: str | None = Field(default=None, description="TrainingJob that produced it.")
    passed_gates: bool | None = Field(default=None, description="Whether it passed every gate.")
    created_at: str | None = Field(default=None, description="When it was published.")
    dataset_digest: str | None = Field(
        default=None, description="Digest of the data it was trained on, as the trainer read it."
    )


class DriftEpisode(ApiModel):
    """The Model's view of production drift: one episode per stretch above the threshold."""

    episode: int = Field(default=0, ge=0, description="Drift episodes seen so far.")
    open: bool = Field(default=False, description="Whether production drifts right now.")
    since: str | None = Field(default=None, description="When the current episode began.")
    deployment: str | None = Field(default=None, description="Deployment that reported it.")
    version: int | None = Field(default=None, description="Production version that drifted.")
    psi: float | None = Field(default=None, description="PSI held to the threshold.")


class ScheduleState(ApiModel):
    """Where the retraining schedule stands."""

    expression: str = Field(description="The schedule these times belong to.")
    since: str = Field(description="When the operator first saw this schedule.")
    next_run_at: str | None = Field(default=None, description="The next scheduled training.")


class DatasetState(ApiModel):
    """What the operator last learned about the dataset without reading it (HTTP HEAD)."""

    uri: str = Field(description="The dataset these validators belong to.")
    validator: str | None = Field(
        default=None, description="ETag or Last-Modified the dataset has now."
    )
    trained_validator: str | None = Field(
        default=None, description="Validator when the newest TrainingJob was created."
    )
    observed_at: str | None = Field(default=None, description="When the validator was seen.")
    error: str | None = Field(default=None, description="Why the dataset could not be checked.")


class AutomaticRun(ApiModel):
    """An automatic training, remembered for 24 hours for the daily cap."""

    training_job: str = Field(description="The TrainingJob.")
    trigger: str = Field(description="drift, schedule or dataset-change.")
    at: str = Field(description="When it was created.")


class RetrainingStatus(ApiModel):
    """The last decision about automatic retraining, and the state it is based on."""

    decision: Literal["Retrain", "Deferred", "NotNeeded", "Invalid"] | None = Field(
        default=None,
        description="Retrain (a TrainingJob was created), Deferred (asked for but held back), "
        "NotNeeded, or Invalid (the policy cannot be applied).",
    )
    reason: str | None = Field(default=None, description="CamelCase reason of the decision.")
    message: str | None = Field(default=None, description="The decision, in words.")
    trigger: str | None = Field(default=None, description="Trigger the decision is about.")
    at: str | None = Field(default=None, description="When this decision was first made.")
    next_eligible_at: str | None = Field(
        default=None, description="When cooldown and daily cap allow the next automatic training."
    )
    last_automatic_at: str | None = Field(
        default=None, description="When the last automatic TrainingJob was created."
    )
    recent: list[AutomaticRun] = Field(
        default_factory=list, description="Automatic trainings of the last 24 hours."
    )
    handled: dict[str, str] = Field(
        default_factory=dict,
        description="Per trigger, the key of the last request acted on (deduplication).",
    )
    drift: DriftEpisode | None = Field(default=None, description="Production drift episodes.")
    schedule: ScheduleState | None = Field(default=None, description="The schedule.")
    dataset: DatasetState | None = Field(default=None, description="The dataset's validator.")


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
