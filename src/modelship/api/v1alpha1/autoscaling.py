"""Autoscaling of the production stage on the in-flight request gauge of its pods.

Two ways to scale, chosen per Deployment: the operator itself (the default; works on any cluster,
because it reads the pods' own `/metrics` as it reads drift) or a HorizontalPodAutoscaler it
generates (only where the cluster serves `autoscaling/v2` and a custom-metrics pipeline makes
the gauge available to it). What the operator decided, and why, is in status, never in the spec,
so a GitOps tool sees no drift when production scales.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from modelship.api.v1alpha1.base import ApiModel, cel_rules


class Autoscaling(ApiModel):
    """Bounds and target of production's replica count (spec.production.replicas is ignored)."""

    model_config = cel_rules(
        (
            "(has(self.minReplicas) ? self.minReplicas : 1) <= "
            "(has(self.maxReplicas) ? self.maxReplicas : 10)",
            "autoscaling.minReplicas exceeds maxReplicas",
        ),
    )

    min_replicas: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Fewest production pods. From 2 on, production keeps a PodDisruptionBudget "
        "(maxUnavailable 1) so a drain never takes it down; at 1 it has none (a budget of one "
        "pod either blocks every drain or protects nothing).",
    )
    max_replicas: int = Field(default=10, ge=1, le=100, description="Most production pods.")
    target_concurrency: float = Field(
        default=10,
        gt=0,
        le=10000,
        description="In-flight inference requests one pod should carry on average; desired "
        "replicas = ceil(observed concurrency / target).",
    )
    mode: Literal["operator", "hpa"] = Field(
        default="operator",
        description="operator: the operator reads the pods' in-flight gauge (stable and panic "
        "windows, as Knative's autoscaler) and sets the replica count; hpa: an autoscaling/v2 "
        "HorizontalPodAutoscaler on the same gauge (needs autoscaling/v2 and a custom-metrics "
        "adapter exposing modelship_inference_in_flight_requests per pod).",
    )

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"autoscaling.minReplicas ({self.min_replicas}) exceeds maxReplicas "
                f"({self.max_replicas})"
            )
        return self


class AutoscalingStatus(ApiModel):
    """The autoscaler's last decision and the figures it was made on."""

    mode: Literal["operator", "hpa"] = Field(description="Who scales production.")
    desired_replicas: int | None = Field(
        default=None, description="Replicas asked of the production Deployment."
    )
    recommended_replicas: int | None = Field(
        default=None,
        description="What the windows recommend now (differs from desired while held).",
    )
    stable_concurrency: float | None = Field(
        default=None, description="Average total in-flight requests over the stable window."
    )
    panic_concurrency: float | None = Field(
        default=None, description="Average total in-flight requests over the panic window."
    )
    panic: bool = Field(default=False, description="Whether the panic window is in charge.")
    samples: int = Field(default=0, description="Readings in the stable window.")
    pods_read: int = Field(default=0, description="Pods whose gauge the last reading summed.")
    reason: str = Field(default="", description="Why production has the replicas it has.")
    last_scale_time: str | None = Field(
        default=None, description="When the operator last changed the replica count."
    )
    decided_at: str | None = Field(default=None, description="When this status was decided.")
    error: str | None = Field(default=None, description="Pods whose gauge could not be read.")
