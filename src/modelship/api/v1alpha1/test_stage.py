"""The test stage of a `Deployment`: how a version is checked there, and what was found.

Acceptance checks run against the test endpoint before approval; shadow traffic mirrors live
production requests to it while it awaits approval. Both are evidence for the approver.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from modelship.api.v1alpha1.base import ApiModel, cel_rules
from modelship.api.v1alpha1.model import MetricName


class AcceptanceSpec(ApiModel):
    """What the test stage must show before a version may be approved."""

    model_config = cel_rules(
        (
            "has(self.metric) || (!has(self.min) && !has(self.max))",
            "test.acceptance.min/max need test.acceptance.metric",
        ),
    )

    min_accuracy: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Lowest accuracy on the held-out acceptance set (classification).",
    )
    metric: MetricName | None = Field(
        default=None,
        description="Metric to bound instead of accuracy (for regression: r2, rmse or mae).",
    )
    min: float | None = Field(default=None, description="Lowest acceptable value of metric.")
    max: float | None = Field(default=None, description="Highest acceptable value of metric.")
    max_latency_ms: float = Field(
        default=500,
        gt=0,
        description="Highest acceptable p95 latency of a prediction request, in milliseconds.",
    )
    samples: int = Field(
        default=200,
        ge=1,
        le=100000,
        description="Acceptance rows sent to the test endpoint (capped by the held-out set).",
    )

    @model_validator(mode="after")
    def _bound_needs_metric(self) -> AcceptanceSpec:
        if (self.min is not None or self.max is not None) and self.metric is None:
            raise ValueError("test.acceptance.min/max need test.acceptance.metric")
        return self


class ShadowSpec(ApiModel):
    """Mirror live production requests to the version awaiting approval (answers are dropped)."""

    percent: int = Field(
        default=10, ge=1, le=100, description="Percent of production requests mirrored."
    )


class TestStageSpec(ApiModel):
    """The internal test endpoint a version is checked at before production."""

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name

    replicas: int = Field(default=1, ge=1, le=10, description="Pods of the test stage.")
    acceptance: AcceptanceSpec = Field(
        default_factory=AcceptanceSpec,
        description="Checks run against the test endpoint.",
    )
    shadow: ShadowSpec | None = Field(
        default=None,
        description="While a tested version awaits approval, mirror a share of production "
        "traffic to it and report how its answers compare (status.test.shadow).",
    )


class CheckResult(ApiModel):
    """One acceptance check."""

    name: str = Field(description="What was checked.")
    passed: bool = Field(description="Whether it passed.")
    value: float | None = Field(default=None, description="Measured value.")
    bound: str | None = Field(default=None, description="The bound it was held to.")
    message: str = Field(default="", description="Details.")


class AcceptanceReport(ApiModel):
    """The acceptance Job's findings."""

    checked_at: str | None = Field(default=None, description="When the checks ran.")
    samples: int | None = Field(default=None, description="Rows sent.")
    checks: list[CheckResult] = Field(default_factory=list, description="Each check.")


class ShadowStatus(ApiModel):
    """How the version awaiting approval answered a copy of live production requests."""

    version: int = Field(description="The shadowed (tested) version.")
    percent: int = Field(description="Share of production requests mirrored.")
    requests: int = Field(default=0, description="Mirrored requests both sides answered.")
    errors: int = Field(default=0, description="Mirrored requests the shadow failed.")
    dropped: int = Field(default=0, description="Requests not mirrored: the queue was full.")
    agreement: float | None = Field(
        default=None, description="Share of rows on which both versions' predictions agree."
    )
    production_p95_ms: float | None = Field(
        default=None, description="p95 latency of production on the mirrored requests."
    )
    shadow_p95_ms: float | None = Field(
        default=None, description="p95 latency of the shadow on the same requests."
    )
    checked_at: str | None = Field(default=None, description="When the router was read.")
    error: str | None = Field(default=None, description="Why the figures could not be read.")


class TestStageStatus(ApiModel):
    """The version at the test stage and what testing found."""

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name

    version: int | None = Field(default=None, description="Version under test.")
    digest: str | None = Field(default=None, description="Its digest.")
    artifact: str | None = Field(
        default=None, description="Its artifact (in a registry: the manifest pinned by digest)."
    )
    service: str | None = Field(default=None, description="Service of the test endpoint.")
    passed: bool | None = Field(default=None, description="Whether acceptance passed.")
    report: AcceptanceReport | None = Field(default=None, description="Acceptance report.")
    shadow: ShadowStatus | None = Field(
        default=None, description="Live traffic mirrored to this version while it awaits approval."
    )
