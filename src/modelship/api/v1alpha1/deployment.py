"""The `Deployment` kind: a tested, approved rollout of one catalog version of a Model.

The kind shares its name with `apps/v1` Deployments on purpose (it is the user's word for it);
code always selects it by group, version and plural.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from modelship.api.v1alpha1.autoscaling import Autoscaling, AutoscalingStatus
from modelship.api.v1alpha1.base import (
    ApiModel,
    Condition,
    ObjectRef,
    ResourceRequirements,
    cel_rules,
)
from modelship.api.v1alpha1.model import MetricName
from modelship.api.v1alpha1.performance import DeploymentMonitoring, PerformanceStatus
from modelship.api.v1alpha1.progressive import CanaryStatus, RolloutSpec
from modelship.api.v1alpha1.test_stage import (
    TestStageSpec,
    TestStageStatus,
)

DeploymentPhase = Literal[
    "Pending", "Testing", "AwaitingApproval", "Promoting", "Serving", "Failed"
]


class ProductionSpec(ApiModel):
    """The production endpoint."""

    replicas: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Pods serving production (with autoscaling: where it starts, within bounds).",
    )
    resources: ResourceRequirements | None = Field(
        default=None,
        description="Requests and limits of each serving container.",
    )
    rollout: RolloutSpec = Field(
        default_factory=RolloutSpec,
        description="How an approved version replaces production: all at once (surge, the "
        "default) or by canary steps with analysis.",
    )
    autoscaling: Autoscaling | None = Field(
        default=None,
        description="Scale production on its in-flight requests instead of a fixed count.",
    )


class Approval(ApiModel):
    """A person's (or a policy's) go-ahead for exactly one tested version."""

    version: int = Field(ge=1, description="The tested version approved for production.")
    digest: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="Digest the approved version must have (guards against a replaced version).",
    )
    approved_by: str | None = Field(
        default=None,
        description="Optional: must equal the requester (the admission webhook records who "
        "approved from the request itself); from a trusted applier (GitOps), recorded as a "
        "claim beside the applier's identity.",
    )


class ApprovalPolicy(ApiModel):
    """Who may approve beyond the approve right (changing it needs that right too)."""

    four_eyes: bool = Field(
        default=False,
        description="Refuse an approval by the identity that last changed spec.version or the "
        "Model's spec.",
    )


class AutoApprovePolicy(ApiModel):
    """Let the operator approve a tested version itself, by a fixed rule (off by default)."""

    enabled: bool = Field(default=False, description="Whether automatic approval is allowed.")
    metric: MetricName | None = Field(
        default=None,
        description="Metric the new version must match or beat production on "
        "(default: the task's primary metric, accuracy or r2).",
    )


class DeploymentSpec(ApiModel):
    """Which version to roll out, how to test it, and the approval for production."""

    model_config = cel_rules(
        (
            "!has(self.test) || !has(self.test.shadow) || !has(self.production) "
            "|| !has(self.production.rollout) || !has(self.production.rollout.traffic) "
            "|| self.production.rollout.traffic != 'replicas'",
            "test.shadow mirrors requests through the router, which traffic: replicas does not "
            "run; use traffic: router (or gatewayAPI) or drop test.shadow",
        ),
    )

    model_ref: ObjectRef = Field(description="The Model whose versions are deployed.")
    version: str = Field(
        default="latest",
        pattern=r"^(latest|[1-9][0-9]*)$",
        description="'latest' (newest version that passed its gates) or a version number.",
    )
    test: TestStageSpec = Field(default_factory=TestStageSpec, description="The test stage.")
    production: ProductionSpec = Field(
        default_factory=ProductionSpec,
        description="The production stage.",
    )
    approval: Approval | None = Field(
        default=None,
        description="Promote to production only the version named here, once it passed testing.",
    )
    approval_policy: ApprovalPolicy | None = Field(
        default=None,
        description="Extra rules for approvals (four-eyes); changing it needs the approve right.",
    )
    suspend: bool = Field(
        default=False,
        description="Roll out, test and promote nothing while true (production keeps serving "
        "what it serves); status is still kept current.",
    )
    monitoring: DeploymentMonitoring = Field(
        default_factory=DeploymentMonitoring,
        description="Live evaluation of the served versions from captured, labelled rows.",
    )
    auto_approve: AutoApprovePolicy | None = Field(
        default=None,
        description="Approve automatically a version that passed its gates and acceptance and "
        "is at least as good as production (never the first promotion). Recorded in "
        "status.autoApproval; spec.approval is never written by the operator.",
    )

    @model_validator(mode="after")
    def _shadow_needs_the_router(self) -> DeploymentSpec:
        if self.test.shadow is not None and self.production.rollout.traffic == "replicas":
            raise ValueError(
                "test.shadow mirrors requests through the router, which traffic: replicas "
                "does not run; use traffic: router (or gatewayAPI) or drop test.shadow"
            )
        return self


class ProductionStatus(ApiModel):
    """The version serving production."""

    version: int | None = Field(default=None, description="Version in production.")
    digest: str | None = Field(default=None, description="Its digest.")
    artifact: str | None = Field(
        default=None, description="Its artifact (in a registry: the manifest pinned by digest)."
    )
    service: str | None = Field(default=None, description="Service of the production endpoint.")
    ready_replicas: int | None = Field(default=None, description="Ready production pods.")
    promoted_at: str | None = Field(default=None, description="When it was promoted.")
    approved_by: str | None = Field(default=None, description="Who approved it.")


class VersionRef(ApiModel):
    """A version and its digest."""

    version: int = Field(description="Catalog version.")
    digest: str = Field(description="Its digest.")
    artifact: str | None = Field(
        default=None,
        description="Its artifact; in a registry the manifest pinned by digest, pulled by pods.",
    )


class FailedRollout(ApiModel):
    """A version whose production rollout failed and was rolled back."""

    version: int = Field(description="Version that failed.")
    digest: str = Field(description="Its digest.")
    generation: int = Field(description="Deployment generation whose approval it was.")
    reason: str = Field(default="", description="Why the rollout failed.")


class HistoryEntry(ApiModel):
    """One event in the Deployment's life: tested, promoted, rolled back."""

    event: str = Field(description="What happened (Tested, Promoted, RolledBack, ...).")
    version: int | None = Field(default=None, description="Version concerned.")
    digest: str | None = Field(default=None, description="Its digest.")
    at: str = Field(description="When.")
    message: str = Field(default="", description="Details.")


class FeatureDrift(ApiModel):
    """Drift of one input feature."""

    name: str = Field(description="Feature name.")
    psi: float | None = Field(default=None, description="Population stability index.")
    missing_rate: float | None = Field(
        default=None,
        description="Share of missing values in production (typed numeric features).",
    )


class DriftStatus(ApiModel):
    """Production drift: every ready production pod's report, combined (weighted by rows)."""

    version: int | None = Field(default=None, description="Production version measured.")
    digest: str | None = Field(default=None, description="Its digest.")
    overall: float | None = Field(default=None, description="Mean PSI over features.")
    max: float | None = Field(default=None, description="PSI of the worst feature.")
    rows: int = Field(default=0, ge=0, description="Live rows the PSI is computed over.")
    observed_rows: int = Field(default=0, ge=0, description="Rows seen since the pods started.")
    pods: int = Field(default=0, ge=0, description="Pods whose reports were read.")
    features: list[FeatureDrift] = Field(default_factory=list, description="PSI per feature.")
    worst: str | None = Field(default=None, description="The most drifted features.")
    access: str | None = Field(default=None, description="How the reports were read.")
    error: str | None = Field(default=None, description="Reports that could not be read, why.")
    checked_at: str | None = Field(
        default=None,
        description="When the reports were read. A reading that finds these same figures "
        "refreshes it only once it is the operator's drift_unchanged_write_seconds old (300 s by "
        "default), so idle production writes nothing every interval.",
    )


class AutoApproval(ApiModel):
    """An approval the operator gave by the autoApprove rule."""

    version: int = Field(description="Version approved.")
    digest: str = Field(description="Its digest.")
    rule: str = Field(description="The rule and the figures it was judged on.")
    at: str = Field(description="When.")


class DeploymentStatus(ApiModel):
    """What the operator observed about this Deployment."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    observed_generation: int | None = Field(default=None, description="Last generation acted on.")
    phase: DeploymentPhase | None = Field(default=None, description="Summary of the conditions.")
    conditions: list[Condition] = Field(default_factory=list, description="Observations.")
    test: TestStageStatus | None = Field(default=None, description="The test stage.")
    production: ProductionStatus | None = Field(default=None, description="Production.")
    previous: VersionRef | None = Field(default=None, description="Version production replaced.")
    failed_rollout: FailedRollout | None = Field(
        default=None,
        description="Last version rolled back; promoted again only after a new approval.",
    )
    history: list[HistoryEntry] = Field(default_factory=list, description="Recent events.")
    drift: DriftStatus | None = Field(default=None, description="Production drift.")
    auto_approval: AutoApproval | None = Field(
        default=None, description="The last approval given by the autoApprove rule."
    )
    canary: CanaryStatus | None = Field(
        default=None, description="The canary rollout in progress (strategy: canary)."
    )
    autoscaling: AutoscalingStatus | None = Field(
        default=None, description="What the autoscaler decided for production, and why."
    )
    performance: PerformanceStatus | None = Field(
        default=None, description="Live metric of the served versions, from labelled captures."
    )


class Deployment(ApiModel):
    """A tested, approved rollout of a Model's catalog version."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    spec: DeploymentSpec
    status: DeploymentStatus = Field(default_factory=DeploymentStatus)
