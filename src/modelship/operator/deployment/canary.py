"""Decide a canary rollout and shadow traffic (pure): weights, children, verdicts, completion.

An approved version reaches production through the steps of `spec.production.rollout` when a
stable version already serves (a first promotion has nothing to compare with, so it surges).
The router fronts production only while a canary or shadow is active and only once it is ready;
otherwise the production Service selects the stable pods and no extra hop exists. A failed
analysis (or `modelship abort`) sends every request back to stable at once, removes the canary,
and records the failed rollout so that only a new approval generation can try that version again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from modelship.api.v1alpha1 import Approval, ProductionStatus, VersionRef
from modelship.api.v1alpha1.deployment import FailedRollout, ShadowStatus
from modelship.api.v1alpha1.progressive import CanaryStatus
from modelship.contracts.approval import ABORT_ANNOTATION, PROMOTE_ANNOTATION
from modelship.contracts.routing import RouteBackend, RoutingTable
from modelship.operator.canary_builders import (
    backend_service_name,
    build_backend_service,
    build_canary_deployment,
    build_router_deployment,
    build_router_identity,
    build_router_pdb,
    build_routing_config_map,
    canary_name,
    router_name,
    routing_name,
)
from modelship.operator.deployment.actions import Draft
from modelship.operator.deployment.canary_observe import CanaryView
from modelship.operator.deployment.canary_steps import advance
from modelship.operator.deployment.observe import Observation, Subject
from modelship.operator.kube import (
    APPS_DEPLOYMENTS,
    CONFIG_MAPS,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    SERVICES,
)
from modelship.operator.serving_builders import stage_name
from modelship.operator.serving_scrape import quantile
from modelship.operator.settings import OperatorSettings


@dataclass(frozen=True)
class Routing:
    """What fronts production after this decision, for the production Service's selector."""

    routed: bool
    retire: bool = False
    """Nothing progressive is active: remove its children once production selects stable."""


def canary_applies(subject: Subject, production: ProductionStatus) -> bool:
    mdep = subject.mdep
    assert mdep is not None
    return (
        mdep.spec.production.rollout.strategy == "canary"
        and production.version is not None
        and bool(production.promoted_at)
    )


def step_canary(
    draft: Draft,
    subject: Subject,
    approval: Approval,
    production: ProductionStatus,
    seen: CanaryView,
) -> ProductionStatus:
    """Move the canary of the approved version; returns production's status afterwards."""
    mdep, status = subject.mdep, draft.status
    assert mdep is not None and status.test is not None and status.test.digest is not None
    digest = status.test.digest
    canary = status.canary
    if canary is None or (canary.version, canary.digest) != (approval.version, digest):
        canary = CanaryStatus(
            version=approval.version,
            digest=digest,
            artifact=status.test.artifact,
            step_started_at=draft.now,
        )
        draft.record("CanaryStarted", approval.version, digest, "canary rollout started")
        draft.event("CanaryStarted", f"version {approval.version}: canary rollout started")
    if canary.state in ("Aborted", "Completed"):
        status.canary = canary
        return production
    annotations = subject.body["metadata"].get("annotations") or {}
    if annotations.get(ABORT_ANNOTATION) == str(canary.version):
        return _abort(draft, subject, canary, "aborted by `modelship abort`", production)
    steps = mdep.spec.production.rollout.steps
    ready = (
        seen.canary is not None
        and seen.canary.complete
        and seen.router_ready
        and seen.table is not None
        and seen.table.canary is not None
        and seen.table.canary.version == canary.version
        and seen.table.canary_weight == canary.weight
    )
    decision = advance(
        steps,
        canary,
        _parse(draft.now),
        ready=ready,
        promote=annotations.get(PROMOTE_ANNOTATION) == f"{canary.version}/{canary.step}",
        verdict=seen.verdict,
    )
    canary = decision.canary
    if decision.phase == "Aborted":
        assert decision.failure is not None
        failure = decision.failure
        return _abort(draft, subject, canary, f"analysis failed: {failure.message}", production)
    canary.state = "Completed" if decision.phase == "Completed" else decision.phase
    status.canary = canary
    if decision.phase != "Completed":
        return production
    draft.record("CanaryCompleted", canary.version, canary.digest, "every step passed")
    draft.event("CanaryCompleted", f"version {canary.version}: every canary step passed")
    assert production.version is not None and production.digest is not None
    status.previous = VersionRef(
        version=production.version, digest=production.digest, artifact=production.artifact
    )
    return ProductionStatus(
        version=canary.version,
        digest=canary.digest,
        artifact=canary.artifact,
        service=subject.name,
        ready_replicas=0,
        approved_by=approval.approved_by,
    )


def _abort(
    draft: Draft,
    subject: Subject,
    canary: CanaryStatus,
    why: str,
    production: ProductionStatus,
) -> ProductionStatus:
    status = draft.status
    canary.state, canary.weight, canary.waiting_for = "Aborted", 0, why
    status.canary = canary
    status.failed_rollout = FailedRollout(
        version=canary.version, digest=canary.digest, generation=subject.generation, reason=why
    )
    message = f"canary version {canary.version} {why}; stable version {production.version} serves"
    draft.condition("RolledBack", True, "CanaryAborted", message)
    draft.record("RolledBack", canary.version, canary.digest, message)
    draft.event("RolledBack", message, warning=True)
    return production


def canary_active(draft: Draft, production: ProductionStatus) -> bool:
    canary = draft.status.canary
    if canary is None or canary.state == "Aborted":
        return False
    if canary.state == "Completed":
        return not (production.version == canary.version and production.promoted_at)
    return True


def shadow_active(subject: Subject, draft: Draft, production: ProductionStatus) -> bool:
    mdep, test = subject.mdep, draft.status.test
    assert mdep is not None
    return (
        mdep.spec.test.shadow is not None
        and test is not None
        and test.passed is True
        and test.version is not None
        and test.version != production.version
        and bool(production.promoted_at)
    )


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
    if canary is None and not shadow:
        if canary_done(draft, production):
            status.canary = None  # promoted: the canary columns stay empty until the next one
        return Routing(routed=False, retire=True)
    body = subject.body
    if canary is not None:
        replicas = max(1, math.ceil(mdep.spec.production.replicas * canary.weight / 100))
        draft.apply(
            APPS_DEPLOYMENTS,
            build_canary_deployment(
                body, canary.version, canary.digest, replicas, mdep.spec.production.resources,
                settings, canary.artifact,
            ),
            view.canary,
        )  # fmt: skip
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
    draft.apply(seen.pdb_resource, build_router_pdb(body, seen.pdb_resource.api_version),
                view.router_pdb)  # fmt: skip
    if shadow:
        _record_shadow(draft, view)
    return Routing(routed=view.router_ready)


def canary_done(draft: Draft, production: ProductionStatus) -> bool:
    canary = draft.status.canary
    return (
        canary is not None
        and canary.state == "Completed"
        and production.version == canary.version
        and bool(production.promoted_at)
    )


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
            draft.delete(seen.pdb_resource, router_name(name))
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


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
