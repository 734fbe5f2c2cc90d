"""What a Deployment's reconcile observed, as typed values: the pure deciders' whole input.

Types only, no I/O: `observe` and `canary_observe` fill them from the API server and the pods'
metrics; the deciders import them from here and nothing that reads (a lint contract holds it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from modelship.api.v1alpha1 import (
    Deployment,
    DeploymentStatus,
    ModelStatus,
    MonitoringSpec,
    Task,
)
from modelship.api.v1alpha1.progressive import AnalysisResult
from modelship.contracts.routing import RoutingTable
from modelship.operator.deployment.autoscale import Recommendation
from modelship.operator.deployment.rollout import (
    AcceptanceJob,
    Applied,
    EvaluationJob,
    PodState,
    StageRollout,
    applied_hash,
)
from modelship.operator.deployment.scrape import ShadowCounts
from modelship.operator.kube.changes import fingerprint, model_part
from modelship.operator.kube.status import first_error

Obj = dict[str, Any]
NOT_SERVED_REASON = "GatewayAPINotServed"


@dataclass(frozen=True)
class Subject:
    """The Deployment being reconciled: its typed object, or why its spec is invalid."""

    body: Obj  # for the builders' names and owner references
    name: str
    namespace: str
    generation: int
    status: DeploymentStatus
    mdep: Deployment | None
    invalid: str = ""

    @classmethod
    def parse(cls, body: Obj) -> Subject:
        meta = body["metadata"]
        common: dict[str, Any] = {
            "body": body,
            "name": str(meta["name"]),
            "namespace": str(meta["namespace"]),
            "generation": int(meta.get("generation") or 1),
        }
        try:
            mdep = Deployment.model_validate(body)
        except ValidationError as exc:
            status = DeploymentStatus.model_validate(body.get("status") or {})
            return cls(**common, status=status, mdep=None, invalid=first_error(exc, prefix=""))
        return cls(**common, status=mdep.status, mdep=mdep)


class _ModelSpecView(BaseModel):
    """The one spec field of a Model the Deployment needs (the Model controller validates all)."""

    model_config = ConfigDict(extra="ignore")

    task: Task = "classification"


@dataclass(frozen=True)
class ModelView:
    task: Task
    status: ModelStatus
    monitoring: MonitoringSpec | None = None
    fingerprint: int = 0  # of what was read (kube.changes.model_part): its events compare to it

    @classmethod
    def of(cls, model: Obj) -> ModelView:
        spec = model.get("spec") or {}
        return cls(
            task=_ModelSpecView.model_validate(spec).task,
            status=ModelStatus.model_validate(model.get("status") or {}),
            monitoring=_monitoring(spec),
            fingerprint=fingerprint(model_part(model)),
        )


def _monitoring(spec: Obj) -> MonitoringSpec | None:
    """The Model's monitoring section; one the API server let through but we cannot read
    (an older CRD) turns capture and feedback off rather than stopping the rollout."""
    try:
        return MonitoringSpec.model_validate(spec.get("monitoring") or {})
    except ValidationError:
        return None


@dataclass(frozen=True)
class Stage:
    """One stage's Service, Deployment and pods (the pods only when they were needed)."""

    service: Applied | None = None
    deployment: StageRollout | None = None
    pods: list[PodState] = field(default_factory=list)


@dataclass(frozen=True)
class CanaryView:
    """The progressive-delivery children as observed (None: absent)."""

    canary: StageRollout | None = None
    router: StageRollout | None = None
    router_pdb: Applied | None = None
    services: dict[str, Applied | None] = field(default_factory=dict)
    account: Applied | None = None
    role: Applied | None = None
    binding: Applied | None = None
    routing: Applied | None = None
    table: RoutingTable | None = None
    stable_pods: list[PodState] = field(default_factory=list)
    canary_pods: list[PodState] = field(default_factory=list)
    router_pods: list[PodState] = field(default_factory=list)
    router_pods_left: int = 0
    """Router pods that still exist, ready or terminating: they may still be answering."""
    verdict: AnalysisResult | None = None
    shadow: ShadowCounts | None = None
    shadow_errors: list[str] = field(default_factory=list)
    unshared_pods: int = 0
    """Production pods without the label a `traffic: replicas` Service selects (older template)."""
    gateway_served: bool | None = None
    """Whether the Gateway API's HTTPRoute is served (None: not asked, no gatewayAPI in use)."""
    route: RouteState | None = None

    @property
    def exists(self) -> bool:
        children = [self.canary, self.router, self.router_pdb, self.routing, self.account,
                    self.role, self.binding, *self.services.values()]  # fmt: skip
        return any(child is not None for child in children)

    @property
    def router_ready(self) -> bool:
        return self.router is not None and self.router.complete and bool(self.router_pods)


@dataclass(frozen=True)
class RouteState(Applied):
    """The HTTPRoute as observed: the canary's weight in it, and whether the Gateway took it."""

    canary_weight: int | None = None
    """The canary backend's weight in the weighted rule (None: the route has no canary)."""
    accepted: bool = False
    """Every parent reports Accepted for the route's current generation."""
    stale: bool = False
    """Some Gateway has not yet acted on the route's current generation (it may still use the
    previous weights)."""

    @classmethod
    def read(cls, route: Obj | None, canary_service: str) -> RouteState | None:
        if route is None:
            return None
        weight = None
        for rule in (route.get("spec") or {}).get("rules") or []:
            if any(match.get("headers") for match in rule.get("matches") or []):
                # header-pinned rules carry no weight; the weighted rule may have matches too:
                # the API server defaults a rule without any to a path prefix "/"
                continue
            for ref in rule.get("backendRefs") or []:
                if ref.get("name") == canary_service:
                    weight = int(ref.get("weight", 1))
        generation = int(route.get("metadata", {}).get("generation") or 0)
        parents = (route.get("status") or {}).get("parents") or []
        accepted: list[Obj] = [
            c
            for parent in parents
            for c in parent.get("conditions") or []
            if c.get("type") == "Accepted"
        ]
        current = [int(c.get("observedGeneration") or 0) >= generation for c in accepted]
        return cls(
            applied_hash(route),
            canary_weight=weight,
            accepted=bool(parents)
            and len(accepted) == len(parents)
            and all(current)
            and all(c.get("status") == "True" for c in accepted),
            stale=not all(current),
        )


@dataclass(frozen=True)
class Observation:
    model: ModelView | None = None
    test: Stage = field(default_factory=Stage)
    production: Stage = field(default_factory=Stage)
    pdb: Applied | None = None
    acceptance: AcceptanceJob | None = None
    canary: CanaryView = field(default_factory=CanaryView)
    hpa: Applied | None = None
    autoscale: Recommendation | None = None  # what the autoscaler's windows recommend now
    evaluation: EvaluationJob | None = None
    """The evaluation Job status.performance.job names (None: none running, or it is gone)."""


def wanted(mdep: Deployment) -> bool:
    """Whether this Deployment may have progressive-delivery children to look at."""
    spec, status = mdep.spec, mdep.status
    return (
        spec.production.rollout.strategy == "canary"
        or spec.production.rollout.traffic == "gatewayAPI"
        or spec.test.shadow is not None
        or status.canary is not None
        or (status.test is not None and status.test.shadow is not None)
    )


def uses_gateway(mdep: Deployment) -> bool:
    """Whether the spec or the rollout under way splits traffic with an HTTPRoute."""
    canary = mdep.status.canary
    return mdep.spec.production.rollout.traffic == "gatewayAPI" or (
        canary is not None and canary.traffic == "gatewayAPI"
    )
