"""Apply a canary or shadow rollout's children (pure): canary, router, table, and retiring them.

The decisions about the canary itself (steps, abort, completion) are in canary.py; this module
turns where the rollout is into the children it needs, and takes them away in a safe order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelship.api.v1alpha1 import ProductionStatus
from modelship.api.v1alpha1.progressive import CanaryStatus
from modelship.api.v1alpha1.test_stage import ShadowStatus
from modelship.contracts.routing import RouteBackend, RoutingTable
from modelship.operator.deployment.actions import Draft
from modelship.operator.deployment.builders.canary import (
    backend_service_name,
    build_backend_service,
    build_router_deployment,
    build_router_identity,
    build_router_pdb,
    build_routing_config_map,
    canary_name,
    router_name,
    routing_name,
)
from modelship.operator.deployment.builders.stages import stage_name
from modelship.operator.deployment.canary import canary_active, canary_done, shadow_active
from modelship.operator.deployment.observation import CanaryView, Observation, Subject
from modelship.operator.deployment.scrape import quantile
from modelship.operator.deployment.traffic_modes import (
    apply_canary_deployment,
    apply_direct,
    apply_route,
    production_size,
)
from modelship.operator.kube.resources import (
    APPS_DEPLOYMENTS,
    CONFIG_MAPS,
    PDBS,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    SERVICES,
)
from modelship.operator.settings import OperatorSettings


@dataclass(frozen=True)
class Routing:
    """What fronts production after this decision, for the production Service's selector."""

    routed: bool
    retire: bool = False
    """Nothing progressive is active: remove its children once production selects stable."""
    shared: bool = False
    """traffic: replicas: the production Service selects stable and canary pods alike."""
    stable_replicas: int | None = None
    """traffic: replicas: the stable pods of the split (None: production's own count)."""


def apply_progressive(
    draft: Draft,
    subject: Subject,
    seen: Observation,
    production: ProductionStatus,
    settings: OperatorSettings,
) -> Routing:
    """Apply (or remove) the canary, the router and its table; say whether the router fronts."""
    mdep, status, view = subject.mdep, draft.status, seen.canary
    assert mdep is not None
    canary = status.canary if canary_active(draft, production) else None
    shadow = shadow_active(subject, draft, production) and canary is None
    if canary is None or canary.traffic != "gatewayAPI":
        apply_route(draft, subject, seen, production, canary)  # steady state: all to stable
    if canary is None and not shadow:
        if canary_done(draft, production):
            status.canary = None  # promoted: the canary columns stay empty until the next one
        return Routing(routed=False, retire=True)
    if canary is not None and canary.traffic != "router":
        shared, stable = apply_direct(draft, subject, seen, production, canary, settings)
        return Routing(routed=False, shared=shared, stable_replicas=stable)
    body = subject.body
    if canary is not None:
        replicas = max(1, math.ceil(production_size(mdep, status) * canary.weight / 100))
        apply_canary_deployment(draft, subject, seen, canary, replicas, settings)
    for backend in ("stable", "canary"):
        draft.apply(SERVICES, build_backend_service(body, backend), view.services.get(backend))
    account, role, binding = build_router_identity(body)
    draft.apply(SERVICE_ACCOUNTS, account, view.account)
    draft.apply(ROLES, role, view.role)
    draft.apply(ROLE_BINDINGS, binding, view.binding)
    draft.apply(
        CONFIG_MAPS,
        build_routing_config_map(body, _table(subject, draft, view, production, canary)),
        view.routing,
    )
    draft.apply(APPS_DEPLOYMENTS, build_router_deployment(body, settings), view.router)
    draft.apply(PDBS, build_router_pdb(body),
                view.router_pdb)  # fmt: skip
    if shadow:
        _record_shadow(draft, view)
    return Routing(routed=view.router_ready)


def _table(
    subject: Subject,
    draft: Draft,
    view: CanaryView,
    production: ProductionStatus,
    canary: CanaryStatus | None,
) -> RoutingTable:
    name, status = subject.name, draft.status
    mdep = subject.mdep
    assert mdep is not None and production.version is not None and production.digest is not None
    previous = status.previous if canary is not None and canary.state == "Completed" else None
    stable = RouteBackend(
        version=previous.version if previous else production.version,
        digest=previous.digest if previous else production.digest,
        service=backend_service_name(name, "stable"),
    )
    table = RoutingTable(revision=0, stable=stable)
    if canary is not None:
        table.canary = RouteBackend(
            version=canary.version,
            digest=canary.digest,
            service=backend_service_name(name, "canary"),
        )
        table.canary_weight = canary.weight
    elif status.test is not None and status.test.version and status.test.digest:
        assert mdep.spec.test.shadow is not None
        table.shadow = RouteBackend(
            version=status.test.version,
            digest=status.test.digest,
            service=stage_name(name, "test"),
        )
        table.shadow_percent = mdep.spec.test.shadow.percent
    seen = view.table
    if seen is not None and seen.model_copy(update={"revision": 0}) == table:
        table.revision = seen.revision  # unchanged: keep the revision, write nothing
    else:
        table.revision = (seen.revision if seen is not None else 0) + 1
    return table


def _record_shadow(draft: Draft, view: CanaryView) -> None:
    test = draft.status.test
    table = view.table
    if test is None or test.version is None or table is None or table.shadow is None:
        return
    if table.shadow.version != test.version:
        return  # the router still mirrors to the previous version: nothing to say about this one
    counts = view.shadow
    p95 = (
        (quantile(counts.production_latency, 0.95), quantile(counts.shadow_latency, 0.95))
        if counts is not None
        else (None, None)
    )
    test.shadow = ShadowStatus(
        version=test.version,
        percent=table.shadow_percent,
        requests=int(counts.compared) if counts else 0,
        errors=int(counts.errors) if counts else 0,
        dropped=int(counts.dropped) if counts else 0,
        agreement=None
        if counts is None or counts.agreement is None
        else round(counts.agreement, 4),
        production_p95_ms=None if p95[0] is None else round(p95[0] * 1000, 2),
        shadow_p95_ms=None if p95[1] is None else round(p95[1] * 1000, 2),
        checked_at=draft.now,
        error="; ".join(view.shadow_errors)[:500] or None,
    )


def retire_progressive(draft: Draft, subject: Subject, seen: Observation) -> None:
    """Remove the router first, then what it routed to (production selects stable already).

    Router pods drain for a few seconds after deletion, answering requests that were already
    on their connections; so first the router goes, its table pointed at stable alone, and only
    once no router pod is left do the canary, the backend Services and the identity go.
    """
    view, name = seen.canary, subject.name
    if not view.exists:
        return
    if view.router is not None or view.router_pods_left:
        if view.router is not None:
            draft.delete(APPS_DEPLOYMENTS, router_name(name))
        if view.router_pdb is not None:
            draft.delete(PDBS, router_name(name))
        table = view.table
        if table is not None and (table.canary is not None or table.shadow is not None):
            stable_only = RoutingTable(revision=table.revision + 1, stable=table.stable)
            production = draft.status.production
            if production is not None and production.version and production.digest:
                stable_only.stable = RouteBackend(
                    version=production.version,
                    digest=production.digest,
                    service=backend_service_name(name, "stable"),
                )
            draft.apply(
                CONFIG_MAPS, build_routing_config_map(subject.body, stable_only), view.routing
            )
        return
    if view.route is not None and (view.route.canary_weight is not None or view.route.stale):
        return  # a Gateway may still send requests to the canary: it goes once none can
    if view.canary is not None:
        draft.delete(APPS_DEPLOYMENTS, canary_name(name))
    if view.routing is not None:
        draft.delete(CONFIG_MAPS, routing_name(name))
    for backend in ("stable", "canary"):
        if view.services.get(backend) is not None:
            draft.delete(SERVICES, backend_service_name(name, backend))
    if view.binding is not None:
        draft.delete(ROLE_BINDINGS, router_name(name))
    if view.role is not None:
        draft.delete(ROLES, router_name(name))
    if view.account is not None:
        draft.delete(SERVICE_ACCOUNTS, router_name(name))
