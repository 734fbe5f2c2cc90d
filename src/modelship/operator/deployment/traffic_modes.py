"""Decide how a canary's share reaches it (pure): the router, the replica ratio, or an HTTPRoute.

The step machine moves a step only once the traffic is really split at the step's weight: the
router's table says so (router), both Deployments run the pod counts of the split and the
production Service selects both sets (replicas), or the Gateway accepted the route carrying the
weight (gatewayAPI). Where the Gateway API is not served, a gatewayAPI rollout does not start:
it waits with a False `GatewayRoute` condition; it never falls back to another mode silently.
"""

from __future__ import annotations

import math
from typing import Any

from modelship.api.v1alpha1 import Deployment, DeploymentStatus, ProductionStatus
from modelship.api.v1alpha1.progressive import CanaryStatus
from modelship.operator.deployment.actions import Draft
from modelship.operator.deployment.builders.canary import (
    build_backend_service,
    build_canary_deployment,
)
from modelship.operator.deployment.builders.stages import build_stage_service, service_selector
from modelship.operator.deployment.builders.traffic import (
    HTTPROUTE_API_VERSION,
    build_http_route,
    effective_share,
    http_route_name,
    replica_split,
    shared_selector,
)
from modelship.operator.deployment.observation import (
    NOT_SERVED_REASON,
    CanaryView,
    Observation,
    Subject,
)
from modelship.operator.deployment.rollout import spec_hash
from modelship.operator.kube.resources import APPS_DEPLOYMENTS, HTTPROUTES, SERVICES
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
ROUTE_CONDITION = "GatewayRoute"
NOT_SERVED = (
    f"the API server does not serve {HTTPROUTE_API_VERSION} (Gateway API HTTPRoute): "
    "traffic: gatewayAPI cannot split traffic here, so the canary does not start (it does "
    "once the API is installed)"
)


def blocked(subject: Subject, canary: CanaryStatus, view: CanaryView) -> str:
    """Why this rollout cannot split traffic at all ('' when it can)."""
    if canary.traffic != "gatewayAPI":
        return ""
    if view.gateway_served is False:
        return NOT_SERVED
    assert subject.mdep is not None
    if subject.mdep.spec.production.rollout.gateway is None:
        return (
            "this canary splits traffic with an HTTPRoute but spec.production.rollout.gateway "
            "is gone: restore it, or run `modelship abort`"
        )
    return ""


def shared_service(body: Obj, name: str) -> Obj:
    """The production Service of traffic: replicas while a canary runs: stable and canary pods."""
    service = build_stage_service(body, "production")
    service["spec"]["selector"] = service_selector(shared_selector(name))
    return service


def production_size(mdep: Deployment, status: DeploymentStatus) -> int:
    """Production's pods: the autoscaler's count (held during the canary) or the spec's."""
    scaled = status.autoscaling
    if mdep.spec.production.autoscaling is not None and scaled is not None:
        return scaled.desired_replicas or mdep.spec.production.replicas
    return mdep.spec.production.replicas


def apply_direct(
    draft: Draft,
    subject: Subject,
    seen: Observation,
    production: ProductionStatus,
    canary: CanaryStatus,
    settings: OperatorSettings,
) -> tuple[bool, int | None]:
    """The canary's children without a router: (Service selects both sets, stable's replicas).

    Stable's replicas are None when production keeps its own count: with an HTTPRoute, and once
    the canary completed (production then rolls to the canary's version at full size).
    """
    mdep, view = subject.mdep, seen.canary
    assert mdep is not None
    if blocked(subject, canary, view):
        apply_route(draft, subject, seen, production, canary)  # says why on the condition
        return False, None  # fail closed: no canary pod is started
    total = production_size(mdep, draft.status)
    stable: int | None = None
    if canary.traffic == "replicas":
        replicas, stable = replica_split(total, canary.weight)
    else:
        replicas = max(1, math.ceil(total * canary.weight / 100))
    if canary.state == "Completed":
        stable = None
    body = subject.body
    scaling = apply_canary_deployment(draft, subject, seen, canary, replicas, settings)
    if canary.traffic == "gatewayAPI":
        draft.apply(SERVICES, build_backend_service(body, "canary"), view.services.get("canary"))
        ready = not scaling and view.canary is not None and view.canary.complete
        apply_route(draft, subject, seen, production, canary, canary_ready=ready)
        return False, None
    # Pods of an older production template lack the shared label: selecting it before they are
    # replaced would leave them without traffic (and, at worst, the Service without endpoints).
    return view.unshared_pods == 0, stable


def traffic_ready(subject: Subject, canary: CanaryStatus, seen: Observation) -> tuple[bool, str]:
    """Whether the canary gets its current weight now, and what is awaited when it does not."""
    view = seen.canary
    if view.canary is None or not view.canary.complete:
        return False, ""
    if canary.traffic == "replicas":
        return _replicas_ready(subject, canary, seen)
    if canary.traffic == "gatewayAPI":
        route = view.route
        if route is None or route.canary_weight != canary.weight:
            return False, f"HTTPRoute {http_route_name(subject.name)} not yet at {canary.weight}%"
        if not route.accepted:
            return False, (
                f"waiting for every Gateway to accept HTTPRoute {http_route_name(subject.name)} "
                f"at {canary.weight}% (status.parents)"
            )
        return True, ""
    table = view.table
    ready = (
        view.router_ready
        and table is not None
        and table.canary is not None
        and table.canary.version == canary.version
        and table.canary_weight == canary.weight
    )
    return ready, ""


def _replicas_ready(subject: Subject, canary: CanaryStatus, seen: Observation) -> tuple[bool, str]:
    mdep, view = subject.mdep, seen.canary
    assert mdep is not None and view.canary is not None
    want_canary, want_stable = replica_split(production_size(mdep, mdep.status), canary.weight)
    stable = seen.production.deployment
    if view.unshared_pods:
        return False, f"{view.unshared_pods} stable pod(s) still run a template without the label"
    if (
        view.canary.ready_replicas != want_canary
        or stable is None
        or not (stable.complete and stable.ready_replicas == want_stable)
    ):
        return False, (
            f"scaling to {want_canary} canary and {want_stable} stable pod(s) for {canary.weight}%"
        )
    service = seen.production.service
    if service is None or service.spec_hash != _shared_hash(subject):
        return False, "the production Service does not select the canary pods yet"
    return True, ""


def record_split(subject: Subject, canary: CanaryStatus, seen: Observation) -> None:
    """traffic: replicas: the share of ready pods the canary really has behind the Service, as
    observed (a canary the Service does not select yet has none)."""
    if canary.traffic != "replicas":
        return
    service = seen.production.service
    shared = service is not None and service.spec_hash == _shared_hash(subject)
    canary_pods = len(seen.canary.canary_pods) if shared else 0
    stable_pods = len(seen.canary.stable_pods)
    canary.canary_pods, canary.stable_pods = canary_pods, stable_pods
    canary.effective_weight = effective_share(canary_pods, stable_pods)


def apply_route(
    draft: Draft,
    subject: Subject,
    seen: Observation,
    production: ProductionStatus,
    canary: CanaryStatus | None,
    canary_ready: bool = False,
) -> None:
    """Keep the HTTPRoute of a gatewayAPI Deployment: all to stable, or split for the canary.

    `canary` is the active canary (None when none is). Its weight goes into the route only once
    its pods are ready at that weight (`canary_ready`); until then the route keeps the weight it
    has, so a Gateway never sends a share to pods that do not exist yet. A route stays when the
    spec moves away
    from gatewayAPI: it then keeps sending everything to the production Service, which is what
    a Gateway still pointing at it needs; it goes with the Deployment (owner reference).
    """
    mdep, view = subject.mdep, seen.canary
    assert mdep is not None and production.version is not None
    gateway = mdep.spec.production.rollout.gateway
    in_use = mdep.spec.production.rollout.traffic == "gatewayAPI" or (
        canary is not None and canary.traffic == "gatewayAPI"
    )
    if not in_use or gateway is None:
        return
    if view.gateway_served is False:
        draft.condition(ROUTE_CONDITION, False, NOT_SERVED_REASON, NOT_SERVED)
        return
    split = None
    stable = production.version
    if canary is not None and canary.traffic == "gatewayAPI" and canary.weight > 0:
        held = view.route.canary_weight if view.route is not None else None
        weight = canary.weight if canary_ready else min(held or 0, canary.weight)
        split = (canary.version, weight)
        previous = draft.status.previous
        if canary.state == "Completed" and previous is not None:
            stable = previous.version  # production already names the canary's version
    route = build_http_route(subject.body, gateway, stable, split)
    draft.apply(HTTPROUTES, route, view.route)
    accepted = view.route is not None and view.route.accepted
    draft.condition(
        ROUTE_CONDITION,
        True,
        "Accepted" if accepted else "Applied",
        f"HTTPRoute {http_route_name(subject.name)} "
        + (f"sends {split[1]}% to version {split[0]}" if split else "sends all to stable")
        + ("" if accepted else "; no Gateway has accepted it yet"),
    )


def _shared_hash(subject: Subject) -> str:
    return spec_hash(shared_service(subject.body, subject.name))


def apply_canary_deployment(
    draft: Draft,
    subject: Subject,
    seen: Observation,
    canary: CanaryStatus,
    replicas: int,
    settings: OperatorSettings,
) -> bool:
    """Ask for the canary's pods at `replicas` (router or not); True when a write is asked."""
    mdep = subject.mdep
    assert mdep is not None
    return draft.apply(
        APPS_DEPLOYMENTS,
        build_canary_deployment(
            subject.body, canary.version, canary.digest, replicas,
            mdep.spec.production.resources, settings, canary.artifact,
            monitoring=seen.model.monitoring if seen.model is not None else None,
        ),
        seen.canary.canary,
    )  # fmt: skip
