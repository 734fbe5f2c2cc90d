"""Progressive delivery: how an approved version reaches production traffic step by step.

The default (`surge`) is the all-at-once rollout with automatic rollback. `canary` sends a share of
production traffic to the new version, raises it step by step, and checks it against the stable
version between steps; the approval authorises the whole sequence for one version and digest.
Weights the operator sets while a canary runs live in status, never in this spec, so a GitOps tool
sees no drift.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, model_validator

from modelship.api.v1alpha1.base import ApiModel, cel_rules

_DURATION = re.compile(r"^([1-9][0-9]*)([smh])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
DURATION_PATTERN = _DURATION.pattern


def duration_seconds(text: str) -> int:
    """'30s', '5m', '1h' in seconds; a ValueError names the accepted forms."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"duration {text!r} is not a whole number of s, m or h ('30s', '5m')")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class CanaryAnalysis(ApiModel):
    """Compare canary and stable over windows of live traffic before the next step."""

    interval: str = Field(
        default="1m",
        pattern=DURATION_PATTERN,
        description="Length of one analysis window ('30s', '2m').",
    )
    count: int = Field(
        default=1, ge=1, le=100, description="Consecutive windows that must pass before moving on."
    )
    min_requests: int = Field(
        default=100,
        ge=1,
        description="Inference requests each side must have answered in a window for it to "
        "count; fewer makes the window inconclusive and the step waits (never passes).",
    )

    @property
    def interval_seconds(self) -> int:
        return duration_seconds(self.interval)


class Pause(ApiModel):
    """Hold the current weight for a while, or until `modelship promote`."""

    duration: str | None = Field(
        default=None,
        pattern=DURATION_PATTERN,
        description="How long to hold ('10m'); without it the rollout waits for "
        "`modelship promote`.",
    )


class RolloutStep(ApiModel):
    """Exactly one of setWeight, analysis or pause."""

    model_config = cel_rules(
        (
            "(has(self.setWeight) ? 1 : 0) + (has(self.analysis) ? 1 : 0) "
            "+ (has(self.pause) ? 1 : 0) == 1",
            "a rollout step is exactly one of setWeight, analysis or pause",
        ),
    )

    set_weight: int | None = Field(
        default=None, ge=0, le=100, description="Percent of production traffic for the canary."
    )
    analysis: CanaryAnalysis | None = Field(default=None, description="Check the canary.")
    pause: Pause | None = Field(default=None, description="Hold the current weight.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [
            name for name in ("set_weight", "analysis", "pause") if getattr(self, name) is not None
        ]
        if len(chosen) != 1:
            raise ValueError(
                "a rollout step is exactly one of setWeight, analysis or pause"
                + (f" (this one has {', '.join(chosen)})" if chosen else "")
            )
        return self


class AnalysisThresholds(ApiModel):
    """When the canary is worse than stable; every window is judged on all three."""

    max_error_rate_increase: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Highest acceptable canary 5xx rate minus stable's (0.01 = one point).",
    )
    max_latency_ratio: float = Field(
        default=1.5,
        ge=1,
        description="Highest acceptable canary p95 latency as a multiple of stable's ...",
    )
    latency_slack_ms: float = Field(
        default=5.0,
        ge=0,
        description="... unless the canary's p95 is within this many milliseconds of stable's "
        "(keeps fast services from failing on noise).",
    )
    max_prediction_psi: float = Field(
        default=0.2,
        ge=0,
        description="Highest acceptable PSI of the canary's predictions against stable's "
        "(predicted classes, or binned predicted values for regression).",
    )


class ParentRef(ApiModel):
    """A Gateway (or a listener of one) the generated HTTPRoute attaches to."""

    name: str = Field(min_length=1, max_length=253, description="Name of the Gateway.")
    namespace: str | None = Field(
        default=None,
        max_length=63,
        description="Its namespace (default: the Deployment's; the Gateway must allow the route).",
    )
    section_name: str | None = Field(
        default=None, max_length=253, description="One listener of the Gateway, by name."
    )
    port: int | None = Field(default=None, ge=1, le=65535, description="One listener, by port.")
    group: str = Field(default="gateway.networking.k8s.io", description="API group of the parent.")
    kind: str = Field(default="Gateway", description="Kind of the parent.")


class GatewaySpec(ApiModel):
    """Where the HTTPRoute that splits production traffic attaches (traffic: gatewayAPI)."""

    parent_refs: list[ParentRef] = Field(
        min_length=1, max_length=32, description="Gateways the route attaches to."
    )
    hostnames: list[str] = Field(
        default_factory=list, max_length=16, description="Host names the route answers for."
    )


TrafficMode = Literal["router", "replicas", "gatewayAPI"]


class RolloutSpec(ApiModel):
    """How an approved version replaces production."""

    model_config = cel_rules(
        (
            "(has(self.traffic) && self.traffic == 'gatewayAPI') == has(self.gateway)",
            "traffic: gatewayAPI and gateway (its parentRefs) go together",
        ),
        (
            "(has(self.strategy) && self.strategy == 'canary') || !has(self.steps) "
            "|| size(self.steps) == 0",
            "steps apply only to strategy: canary",
        ),
        (
            "(has(self.strategy) && self.strategy == 'canary') || !has(self.traffic) "
            "|| self.traffic == 'router'",
            "traffic applies only to strategy: canary",
        ),
        (
            "!has(self.strategy) || self.strategy != 'canary' "
            "|| (has(self.steps) && size(self.steps) > 0)",
            "strategy: canary needs steps (setWeight, analysis, pause)",
        ),
    )

    strategy: Literal["surge", "canary"] = Field(
        default="surge",
        description="surge: all at once with automatic rollback; canary: the steps below.",
    )
    steps: list[RolloutStep] = Field(
        default_factory=list, max_length=32, description="Canary steps, in order."
    )
    thresholds: AnalysisThresholds = Field(
        default_factory=AnalysisThresholds, description="What makes an analysis fail."
    )
    traffic: TrafficMode = Field(
        default="router",
        description="How a canary gets its share. router: exact weights through a router "
        "Deployment (an extra hop only while a canary or shadow runs); replicas: no extra hop, "
        "the weight is approximated by the ratio of canary to stable pods behind the production "
        "Service (coarse, per connection, no header pinning, no shadow); gatewayAPI: the weights "
        "of a Gateway API HTTPRoute (needs gateway). A change applies from the next rollout.",
    )
    gateway: GatewaySpec | None = Field(
        default=None, description="Where the HTTPRoute attaches (traffic: gatewayAPI)."
    )

    @model_validator(mode="after")
    def _coherent_steps(self) -> Self:
        if (self.traffic == "gatewayAPI") != (self.gateway is not None):
            raise ValueError("traffic: gatewayAPI and gateway (its parentRefs) go together")
        if self.strategy == "surge":
            if self.steps:
                raise ValueError("steps apply only to strategy: canary")
            if self.traffic != "router":
                raise ValueError("traffic applies only to strategy: canary")
            return self
        if not self.steps:
            raise ValueError("strategy: canary needs steps (setWeight, analysis, pause)")
        weight = 0
        for index, step in enumerate(self.steps, start=1):
            if step.set_weight is not None:
                if step.set_weight < weight:
                    raise ValueError(
                        f"step {index}: setWeight {step.set_weight} lowers the weight "
                        f"({weight}); a failed check aborts instead"
                    )
                weight = step.set_weight
            elif step.analysis is not None and weight == 0:
                raise ValueError(
                    f"step {index}: analysis before any setWeight above 0 has no canary traffic"
                )
        return self


class MetricComparison(ApiModel):
    """One metric of one analysis window, on both sides."""

    metric: Literal["errorRate", "latencyP95", "predictionPsi"] = Field(
        description="What was compared."
    )
    stable: float | None = Field(default=None, description="Stable's value over the window.")
    canary: float | None = Field(default=None, description="Canary's value over the window.")
    limit: str = Field(default="", description="The bound the canary was held to.")
    passed: bool = Field(description="Whether the canary stayed within it.")


class AnalysisResult(ApiModel):
    """The verdict on one window of live traffic."""

    step: int = Field(description="Index of the analysis step (0-based).")
    outcome: Literal["Passed", "Failed", "Inconclusive"] = Field(description="The verdict.")
    at: str = Field(description="When the window closed.")
    stable_requests: int = Field(default=0, description="Requests stable answered in it.")
    canary_requests: int = Field(default=0, description="Requests the canary answered in it.")
    comparisons: list[MetricComparison] = Field(
        default_factory=list, description="Every metric, on both sides."
    )
    message: str = Field(default="", description="One line for people.")


class CanaryStatus(ApiModel):
    """Where a canary rollout is; the weight lives here, not in the spec."""

    version: int = Field(description="The canary version.")
    digest: str = Field(description="Its digest.")
    artifact: str | None = Field(
        default=None, description="Its artifact (in a registry: the manifest pinned by digest)."
    )
    state: Literal["Progressing", "Waiting", "Completed", "Aborted"] = Field(
        default="Progressing", description="Where the canary is."
    )
    traffic: TrafficMode = Field(
        default="router", description="How this rollout splits traffic (fixed at its start)."
    )
    step: int = Field(default=0, description="Index of the current step (0-based).")
    weight: int = Field(
        default=0,
        description="Percent of production traffic requested for it (exact with router and "
        "gatewayAPI; approximated by pods with replicas, see effectiveWeight).",
    )
    effective_weight: float | None = Field(
        default=None,
        description="traffic: replicas: percent of the ready pods behind the production Service "
        "that are canary pods (what kube-proxy spreads connections over; 0 until it selects both).",
    )
    canary_pods: int | None = Field(
        default=None, description="traffic: replicas: ready canary pods behind the Service."
    )
    stable_pods: int | None = Field(
        default=None, description="traffic: replicas: ready stable pods behind the Service."
    )
    step_started_at: str | None = Field(default=None, description="When the step began.")
    passed_windows: int = Field(
        default=0, description="Consecutive passing windows in the current analysis step."
    )
    waiting_for: str = Field(default="", description="Why the rollout is not moving, if it waits.")
    analyses: list[AnalysisResult] = Field(
        default_factory=list, description="Every analysis window's verdict (latest last)."
    )
