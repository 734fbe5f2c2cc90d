"""Pure builders of what a canary rollout adds beside production: the canary's pods, one Service
per backend, the routing table, and the router with its own narrowly scoped identity.

The canary runs the production server (stage `production` inside the pod) but carries the label
stage `canary`, so the stable Deployment's selector never overlaps it. Each backend gets a Service
whose EndpointSlices tell the router which pods are ready. The router reads only its routing
ConfigMap and EndpointSlices: its Role says exactly that, and it gets no other API right.
"""

from __future__ import annotations

from typing import Any, Literal

from modelship.api.v1alpha1 import MonitoringSpec, ResourceRequirements
from modelship.contracts.routing import ROUTER_GRPC_PORT, ROUTER_PORT, RouterEnv, RoutingTable
from modelship.operator.deployment.builders.probes import http_probes
from modelship.operator.deployment.builders.stages import (
    GRPC_PORT,
    SERVING_PORT,
    build_stage_deployment,
    stage_selector,
)
from modelship.operator.kube.naming import LABEL_STAGE, base_labels, child_name, owner_reference
from modelship.operator.kube.pods import container, pod_spec
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
Backend = Literal["stable", "canary"]
CANARY_STAGE = "canary"
ROUTER_STAGE = "router"
ROUTER_REPLICAS = 2
ROUTER_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "96Mi"},
    "limits": {"cpu": "1", "memory": "256Mi"},
}


def canary_name(deployment: str) -> str:
    return child_name(deployment, "canary")


def router_name(deployment: str) -> str:
    return child_name(deployment, "router")


def routing_name(deployment: str) -> str:
    return child_name(deployment, "routing")


def backend_service_name(deployment: str, backend: Backend) -> str:
    return child_name(deployment, backend)


def _meta(mdep_body: Obj, name: str, stage: str) -> Obj:
    meta = mdep_body["metadata"]
    labels = base_labels(mdep_body["spec"]["modelRef"]["name"], "serving")
    labels.update(stage_selector(meta["name"], stage))
    return {
        "name": name,
        "namespace": meta["namespace"],
        "labels": labels,
        "ownerReferences": [owner_reference(mdep_body, "Deployment")],
    }


def build_canary_deployment(
    mdep_body: Obj,
    version: int,
    digest: str,
    replicas: int,
    resources: ResourceRequirements | None,
    settings: OperatorSettings,
    artifact: str | None = None,
    monitoring: MonitoringSpec | None = None,
) -> Obj:
    """The canary's apps/v1 Deployment: the production server, selected as stage `canary`
    (with the same capture, so its rows are labelled and evaluated like production's)."""
    body = build_stage_deployment(
        mdep_body, "production", version, digest, replicas, resources, settings,
        artifact=artifact, monitoring=monitoring,
    )  # fmt: skip
    name = mdep_body["metadata"]["name"]
    selector = stage_selector(name, CANARY_STAGE)
    body["metadata"]["name"] = canary_name(name)
    body["metadata"]["labels"][LABEL_STAGE] = CANARY_STAGE
    body["spec"]["selector"] = {"matchLabels": selector}
    body["spec"]["template"]["metadata"]["labels"][LABEL_STAGE] = CANARY_STAGE
    return body


def build_backend_service(mdep_body: Obj, backend: Backend) -> Obj:
    """A Service per backend: the router learns its ready pods from its EndpointSlices."""
    name = mdep_body["metadata"]["name"]
    stage = "production" if backend == "stable" else CANARY_STAGE
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(mdep_body, backend_service_name(name, backend), stage),
        "spec": {
            "selector": stage_selector(name, stage),
            "ports": [
                {"name": "http", "port": SERVING_PORT, "targetPort": "http", "protocol": "TCP"},
                # The router passes gRPC through to the pods this port lists (stable's).
                {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
            ],
        },
    }


def build_routing_config_map(mdep_body: Obj, table: RoutingTable) -> Obj:
    name = mdep_body["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(mdep_body, routing_name(name), ROUTER_STAGE),
        "data": table.to_data(),
    }


def production_selector(deployment: str, routed: bool) -> dict[str, str]:
    """What the production Service selects: the router while it routes, else the stable pods."""
    return stage_selector(deployment, ROUTER_STAGE if routed else "production")


def build_router_identity(mdep_body: Obj) -> tuple[Obj, Obj, Obj]:
    """ServiceAccount, Role and RoleBinding: read the routing ConfigMap and EndpointSlices only."""
    name = mdep_body["metadata"]["name"]
    account = router_name(name)
    meta = _meta(mdep_body, account, ROUTER_STAGE)
    rules = [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [routing_name(name)],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["list", "watch"],
        },
    ]
    return (
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [
                {"kind": "ServiceAccount", "name": account, "namespace": meta["namespace"]}
            ],
        },
    )


def build_router_deployment(mdep_body: Obj, settings: OperatorSettings) -> Obj:
    """Two router pods from the project's image, in front of stable and canary."""
    meta = mdep_body["metadata"]
    name = meta["name"]
    env = RouterEnv(
        namespace=meta["namespace"],
        deployment=name,
        model_name=mdep_body["spec"]["modelRef"]["name"],
        routing_config_map=routing_name(name),
        port=ROUTER_PORT,
        grpc_port=ROUTER_GRPC_PORT,
    )
    labels = _meta(mdep_body, router_name(name), ROUTER_STAGE)["labels"]
    router = container(
        "router",
        "modelship.router",
        settings,
        env=env.to_env(),
        resources=ROUTER_RESOURCES,
        ports=[
            {"name": "http", "containerPort": ROUTER_PORT, "protocol": "TCP"},
            # The production Service's `grpc` port targets this name on whichever pods it selects.
            {"name": "grpc", "containerPort": ROUTER_GRPC_PORT, "protocol": "TCP"},
        ],
        **http_probes("http", "/router/ready", "/router/live"),
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(mdep_body, router_name(name), ROUTER_STAGE),
        "spec": {
            "replicas": ROUTER_REPLICAS,
            "selector": {"matchLabels": stage_selector(name, ROUTER_STAGE)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": labels},
                # The router reads its routing table and EndpointSlices: its own token, bound
                # to a Role for exactly those (build_router_rbac).
                "spec": pod_spec(
                    [router],
                    service_account=router_name(name),
                    api_token=True,
                    terminationGracePeriodSeconds=30,
                ),
            },
        },
    }


def build_router_pdb(mdep_body: Obj) -> Obj:
    name = mdep_body["metadata"]["name"]
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(mdep_body, router_name(name), ROUTER_STAGE),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": stage_selector(name, ROUTER_STAGE)},
        },
    }
