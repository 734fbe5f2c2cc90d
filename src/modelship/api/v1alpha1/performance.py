"""A Deployment's live performance: how it is evaluated (spec) and what was measured (status).

Captured predictions joined with the labels that arrived for them give each served version a
live metric with a confidence interval. The join runs in an evaluation Job (the operator reads
no rows); these types are what the user asks for and what the status keeps: per-version totals.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelship.api.v1alpha1.base import ApiModel

LiveMetric = Literal["accuracy", "mae", "rmse"]
"""Metrics measured on labelled live rows: accuracy (Wilson interval) for classifiers, MAE or
RMSE (bootstrap interval) for regressors."""
ServedRole = Literal["production", "canary", "shadow"]
EVALUATE_ANNOTATION = "evaluation.modelship.io/requested"
"""Set (or change) this annotation on a Deployment to run an evaluation now."""


class LiveEvaluationSpec(ApiModel):
    """When and how the served versions' live metric is computed."""

    interval_seconds: int | None = Field(
        default=None,
        ge=30,
        description="Evaluate this often. Unset: only on demand (annotation "
        f"{EVALUATE_ANNOTATION}=<any new value>).",
    )
    metric: LiveMetric | None = Field(
        default=None,
        description="accuracy for classifiers, mae or rmse for regressors. Unset: accuracy or "
        "mae by the Model's task.",
    )
    window_seconds: int | None = Field(
        default=None,
        ge=60,
        description="Only predictions of this last span count. Unset: every retained capture.",
    )
    maturity_seconds: int = Field(
        default=0,
        ge=0,
        description="Predictions younger than this are left out: their labels may be on the way.",
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1.0, description="Confidence level of the intervals."
    )


class DeploymentMonitoring(ApiModel):
    """Monitoring of the versions this Deployment serves."""

    evaluation: LiveEvaluationSpec = Field(
        default_factory=LiveEvaluationSpec, description="Live metric from captured, labelled rows."
    )


class ServedPerformance(ApiModel):
    """One served version's live metric over the labelled rows of the window."""

    version: int = Field(description="Catalog version.")
    digest: str = Field(description="Its digest.")
    role: ServedRole = Field(description="How it was served: production, canary or shadow.")
    metric: LiveMetric = Field(description="The metric measured.")
    value: float | None = Field(default=None, description="Its value (None: no labelled row).")
    low: float | None = Field(default=None, description="Lower bound of the interval.")
    high: float | None = Field(default=None, description="Upper bound of the interval.")
    method: Literal["wilson", "bootstrap"] | None = Field(
        default=None, description="How the interval was computed."
    )
    confidence: float | None = Field(default=None, description="Its confidence level.")
    labelled: int = Field(default=0, ge=0, description="Captured rows with a label.")
    captured: int = Field(default=0, ge=0, description="Captured rows in the window.")
    coverage: float = Field(default=0.0, ge=0, le=1, description="labelled / captured.")
    offline: float | None = Field(
        default=None, description="The version's held-out test value of the same metric."
    )


LabelFileOutcome = Literal["ingested", "unchanged", "failed"]
MAX_LABEL_FILE_ERROR_CHARS = 200


class LabelFileStatus(ApiModel):
    """What the last evaluation made of one label file the Model names."""

    uri: str = Field(description="The file (spec.monitoring.labels.files[].uri).")
    outcome: LabelFileOutcome = Field(
        description="ingested: its labels were stored as label segments now; unchanged: this "
        "content was stored by an earlier evaluation; failed: it could not be read (error)."
    )
    digest: str | None = Field(default=None, description="sha256 of the bytes read.")
    rows: int = Field(default=0, ge=0, description="Data rows read.")
    accepted: int = Field(default=0, ge=0, description="Rows that became labels.")
    refused: dict[str, int] = Field(
        default_factory=dict,
        description="Rows refused, by reason (short_row, malformed_id, malformed_label, "
        "unknown_id: outside the capture sample, so it could never join a prediction).",
    )
    error: str | None = Field(
        default=None,
        max_length=MAX_LABEL_FILE_ERROR_CHARS,
        description="Why the file could not be read.",
    )


class PerformanceStatus(ApiModel):
    """The last evaluation of the served versions, and the one running, if any."""

    live: str | None = Field(
        default=None,
        description="Production's live metric with its interval and label count, as shown by "
        "kubectl get.",
    )
    versions: list[ServedPerformance] = Field(
        default_factory=list, description="Per served version."
    )
    labels: int = Field(default=0, ge=0, description="Labels read (after de-duplication).")
    orphan_labels: int = Field(default=0, ge=0, description="Labels of no captured prediction.")
    window_from: str | None = Field(default=None, description="Start of the window evaluated.")
    window_to: str | None = Field(default=None, description="End of the window evaluated.")
    evaluated_at: str | None = Field(default=None, description="When the last evaluation ran.")
    label_files: list[LabelFileStatus] = Field(
        default_factory=list,
        description="The Model's label files, as the last evaluation read them.",
    )
    error: str | None = Field(default=None, description="Why the last evaluation failed.")
    job: str | None = Field(default=None, description="The evaluation Job running now.")
    started_at: str | None = Field(default=None, description="When the last one was started.")
    runs: int = Field(default=0, ge=0, description="Evaluations started so far.")
    requested: str | None = Field(
        default=None, description=f"Value of {EVALUATE_ANNOTATION} last acted on."
    )
