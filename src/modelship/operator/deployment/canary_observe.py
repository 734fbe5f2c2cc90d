"""Observe what a canary or shadow rollout has running: its children, its pods, the verdict.

Read only for a Deployment that uses progressive delivery or still has its children, so a
surge Deployment pays nothing for it. Judging a closed analysis window is an observation too:
the decision (pure) receives the verdict and moves the step machine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelship.api.v1alpha1 import Deployment
from modelship.api.v1alpha1.progressive import AnalysisResult
from modelship.contracts.routing import RoutingTable
from modelship.operator.deployment.builders.canary import (
    CANARY_STAGE,
    ROUTER_STAGE,
    backend_service_name,
    canary_name,
    router_name,
    routing_name,
)
from modelship.operator.deployment.builders.stages import LABEL_DEPLOYMENT
from modelship.operator.deployment.builders.traffic import http_route_name
from modelship.operator.deployment.canary_steps import window_closed
from modelship.operator.deployment.observation import (
    NOT_SERVED_REASON,
    CanaryView,
    RouteState,
    uses_gateway,
)
from modelship.operator.deployment.rollout import Applied, PodState, StageRollout
from modelship.operator.deployment.scrape import ShadowCounts
from modelship.operator.deployment.traffic import TrafficReader
from modelship.operator.kube.client import Kube
from modelship.operator.kube.naming import LABEL_SERVES, LABEL_STAGE
from modelship.operator.kube.resources import (
    APPS_DEPLOYMENTS,
    CONFIG_MAPS,
    HTTPROUTES,
    PDBS,
    PODS,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    SERVICES,
)

Obj = dict[str, Any]


def observe_canary(
    kube: Kube,
    mdep: Deployment,
    namespace: str,
    name: str,
    reader: TrafficReader | None,
    now: datetime,
) -> CanaryView:
    pods = kube.list(PODS, namespace, {LABEL_DEPLOYMENT: name})
    by_stage = _by_stage(pods)
    config = kube.get(CONFIG_MAPS, namespace, routing_name(name))
    table = None
    if config is not None:
        try:
            table = RoutingTable.from_data(config.get("data"))
        except ValueError:
            table = None  # this reconcile rewrites it
    production = mdep.status.production
    stable_version = str(production.version) if production and production.version else None
    stable = [p for p in by_stage.get("production", []) if p.ready and p.version == stable_version]
    canary_pods = [p for p in by_stage.get(CANARY_STAGE, []) if p.ready]
    routers = [p for p in by_stage.get(ROUTER_STAGE, []) if p.ready]
    gateway = uses_gateway(mdep)
    # While a rollout waits for the Gateway API, ask again each time: it may have been installed.
    waiting = any(c.reason == NOT_SERVED_REASON for c in mdep.status.conditions)
    served = kube.served(HTTPROUTES, fresh=waiting) if gateway else None
    route = kube.get(HTTPROUTES, namespace, http_route_name(name)) if served else None
    verdict: AnalysisResult | None = None
    shadow: ShadowCounts | None = None
    shadow_errors: list[str] = []
    if reader is not None:
        verdict = _analysis(reader, mdep, namespace, name, stable, canary_pods, now)
        if table is not None and table.shadow is not None and routers:
            shadow, shadow_errors = reader.shadow(routers)
    return CanaryView(
        canary=StageRollout.of(kube.get(APPS_DEPLOYMENTS, namespace, canary_name(name))),
        router=StageRollout.of(kube.get(APPS_DEPLOYMENTS, namespace, router_name(name))),
        router_pdb=Applied.of(kube.get(PDBS, namespace, router_name(name))),
        services={
            backend: Applied.of(kube.get(SERVICES, namespace, backend_service_name(name, backend)))
            for backend in ("stable", "canary")
        },
        account=Applied.of(kube.get(SERVICE_ACCOUNTS, namespace, router_name(name))),
        role=Applied.of(kube.get(ROLES, namespace, router_name(name))),
        binding=Applied.of(kube.get(ROLE_BINDINGS, namespace, router_name(name))),
        routing=Applied.of(config),
        table=table,
        stable_pods=stable,
        canary_pods=canary_pods,
        router_pods=routers,
        router_pods_left=len(by_stage.get(ROUTER_STAGE, [])),
        verdict=verdict,
        shadow=shadow,
        shadow_errors=shadow_errors,
        unshared_pods=_unshared(pods),
        gateway_served=served,
        route=RouteState.read(route, backend_service_name(name, "canary")),
    )


def _analysis(
    reader: TrafficReader,
    mdep: Deployment,
    namespace: str,
    name: str,
    stable: list[PodState],
    canary_pods: list[PodState],
    now: datetime,
) -> AnalysisResult | None:
    """Start the current analysis window's baseline, or judge the window when it has closed."""
    canary, rollout = mdep.status.canary, mdep.spec.production.rollout
    steps = rollout.steps
    if canary is None or canary.step >= len(steps) or canary.step_started_at is None:
        return None
    analysis = steps[canary.step].analysis
    if analysis is None:
        return None
    key = (namespace, name, canary.version, canary.step, canary.step_started_at)
    if window_closed(steps, canary, now):
        return reader.judge(key, stable, canary_pods, rollout.thresholds, analysis.min_requests)
    reader.start_window(key, stable + canary_pods)
    return None


def _by_stage(pods: list[Obj]) -> dict[str, list[PodState]]:
    result: dict[str, list[PodState]] = {}
    for pod in pods:
        stage = (pod.get("metadata", {}).get("labels") or {}).get(LABEL_STAGE, "")
        result.setdefault(stage, []).append(PodState.of(pod))
    return result


def _unshared(pods: list[Obj]) -> int:
    """Live production pods that lack the label a replica-ratio Service selects."""
    count = 0
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get(LABEL_STAGE) == "production" and not meta.get("deletionTimestamp"):
            count += labels.get(LABEL_SERVES) != "production"
    return count
