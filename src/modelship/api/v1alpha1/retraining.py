"""Continuous training of a `Model`: the retraining policy (spec) and the decision state (status).

Kept apart from `model.py` because it is its own concern: when to train again, and the state that
must survive operator restarts to decide it (drift episodes, schedule slots, dataset validators,
the guardrails' memory of recent automatic trainings).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from modelship.api.v1alpha1.base import ApiModel, cel_rules
from modelship.api.v1alpha1.performance import LiveMetric


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
    require_performance_drop: bool = Field(
        default=False,
        description="Retrain on drift only while production's live metric shows a confirmed "
        "drop, judged by retraining.performance's rule when it is set (its metric, threshold, "
        "minLabels, decideOn), else by the whole confidence interval lying on the wrong side "
        "of the version's offline test value (at least 100 labels). A covariate shift that "
        "leaves predictions right then retrains nothing; status says why.",
    )


_ONE_THRESHOLD = (
    "[has(self.below), has(self.above), has(self.dropBy)].filter(x, x).size() == 1",
    "set exactly one of below, above and dropBy",
)
_BELOW_IS_FOR_ACCURACY = (
    "!has(self.below) || !has(self.metric) || self.metric == 'accuracy'",
    "below applies to accuracy (higher is better); use above for mae and rmse",
)
_ABOVE_IS_FOR_ERRORS = (
    "!has(self.above) || (has(self.metric) && self.metric != 'accuracy')",
    "above applies to mae and rmse (lower is better); use below for accuracy",
)


class PerformancePolicy(ApiModel):
    """When the live metric measured on labelled production rows starts a retraining.

    The Deployments serving the Model evaluate it (`spec.monitoring.evaluation` there); this
    policy judges production's figure with its confidence interval.
    """

    model_config = cel_rules(_ONE_THRESHOLD, _BELOW_IS_FOR_ACCURACY, _ABOVE_IS_FOR_ERRORS)

    metric: LiveMetric = Field(default="accuracy", description="accuracy, mae or rmse.")
    below: float | None = Field(
        default=None, description="Retrain when live accuracy is below this value."
    )
    above: float | None = Field(
        default=None, ge=0, description="Retrain when the live error (mae, rmse) is above this."
    )
    drop_by: float | None = Field(
        default=None,
        gt=0,
        description="Retrain when the live metric is worse than the version's offline test "
        "value by more than this (absolute: 0.05 is five accuracy points).",
    )
    min_labels: int = Field(
        default=100, ge=1, description="Labelled rows the figure needs before it is trusted."
    )
    decide_on: Literal["bound", "value"] = Field(
        default="bound",
        description="bound: only a confident decay counts (the whole confidence interval is on "
        "the wrong side: its upper bound for accuracy, its lower bound for an error); value: "
        "the point estimate.",
    )
    require_new_labels: bool = Field(
        default=True,
        description="Retrain again for the same production version only when more labelled "
        "rows are measured than at its last performance training: retraining on unchanged "
        "data reproduces the decayed model.",
    )
    cooldown_seconds: int | None = Field(
        default=None,
        ge=0,
        description="Minimum time after the last automatic training before a performance "
        "decay may start another (default: retraining.cooldownSeconds).",
    )

    @model_validator(mode="after")
    def _one_threshold_that_fits_the_metric(self) -> PerformancePolicy:
        given = [n for n in ("below", "above", "drop_by") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(_ONE_THRESHOLD[1])
        if self.below is not None and self.metric != "accuracy":
            raise ValueError(_BELOW_IS_FOR_ACCURACY[1])
        if self.above is not None and self.metric == "accuracy":
            raise ValueError(_ABOVE_IS_FOR_ERRORS[1])
        return self


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
    performance: PerformancePolicy | None = Field(
        default=None,
        description="Retrain when production's live metric on labelled rows has decayed.",
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
            "Minimum time between two automatic trainings (drift, performance, schedule, "
            "dataset-change); "
            "manual and spec-change trainings neither wait for it nor restart it."
        ),
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
    trigger: str = Field(description="drift, performance, schedule or dataset-change.")
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
