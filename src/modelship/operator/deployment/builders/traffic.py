"""Pure builders of the two ways a canary gets its share without the router.

`traffic: replicas` adds no object: the production Service selects a label that stable and
canary pods both carry (`modelship.io/serves`), and the share is the ratio of their pods. The
Deployments' own selectors (deployment + stage) stay as they are: apps/v1 selectors are
immutable, so the split is done by the Service, never by changing what a Deployment owns.

`traffic: gatewayAPI` generates a `gateway.networking.k8s.io/v1` HTTPRoute whose weighted
backends are the production Service (stable: it selects the stable pods whenever no router
fronts them) and the canary's backend Service. The route lives as long as production does, so
callers of the Gateway are answered in steady state too.
"""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1.progressive import GatewaySpec
from modelship.contracts.routing import VERSION_HEADER
from modelship.operator.deployment.builders.canary import backend_service_name
from modelship.operator.deployment.builders.stages import (
    LABEL_DEPLOYMENT,
    SERVICE_HTTP_PORT,
    SERVING_PORT,
)
from modelship.operator.kube.naming import LABEL_SERVES, base_labels, owner_reference

Obj = dict[str, Any]
GATEWAY_GROUP = "gateway.networking.k8s.io"
HTTPROUTE_API_VERSION = f"{GATEWAY_GROUP}/v1"


def replica_split(total: int, weight: int) -> tuple[int, int]:
    """(canary, stable) pods that approximate `weight` percent of `total` production pods.

    The canary gets `total * weight / 100` rounded half up, at least one pod as soon as it has
    any weight; stable keeps the rest and never fewer than one pod while the rollout runs (an
    abort then still finds stable serving). So the pods may number `total + 1`, and the share
    is only as fine as one pod: the status reports the share actually reached.
    """
    if weight <= 0:
        return 0, total
    canary = max(1, (total * weight + 50) // 100)
    return canary, max(1, total - canary)


def shared_selector(deployment: str) -> dict[str, str]:
    """What the production Service selects with traffic: replicas: stable and canary pods."""
    return {LABEL_DEPLOYMENT: deployment, LABEL_SERVES: "production"}


def effective_share(canary_ready: int, stable_ready: int) -> float | None:
    """The canary's percent of the ready pods the Service spreads connections over."""
    pods = canary_ready + stable_ready
    return None if pods == 0 else round(100 * canary_ready / pods, 1)


def http_route_name(deployment: str) -> str:
    return deployment  # a kind of its own: it cannot collide with the Service of that name


def build_http_route(
    mdep_body: Obj,
    gateway: GatewaySpec,
    stable_version: int,
    canary: tuple[int, int] | None = None,
) -> Obj:
    """The HTTPRoute for production: all to stable, or `canary` = (version, weight) split.

    Requests naming a version in the `x-modelship-version` header go to that version only: a
    rule with a header match takes precedence over the weighted rule (the Gateway API orders
    rules of equal path by their number of header matches). A backendRef's port is the
    Service's port, not the pods': 80 on the production Service, SERVING_PORT on the canary's
    backend Service (a Gateway finds no backend at a port its Service does not list).
    """
    meta = mdep_body["metadata"]
    name = meta["name"]
    labels = base_labels(mdep_body["spec"]["modelRef"]["name"], "serving")
    labels[LABEL_DEPLOYMENT] = name
    stable_ref = _backend(name, SERVICE_HTTP_PORT, None)
    rules: list[Obj] = [_pinned(stable_version, stable_ref)]
    if canary is None:
        rules.append({"backendRefs": [stable_ref]})
    else:
        version, weight = canary
        canary_name = backend_service_name(name, "canary")
        canary_ref = _backend(canary_name, SERVING_PORT, None)
        rules.insert(0, _pinned(version, canary_ref))
        rules.append(
            {
                "backendRefs": [
                    _backend(name, SERVICE_HTTP_PORT, 100 - weight),
                    _backend(canary_name, SERVING_PORT, weight),
                ]
            }
        )
    spec: Obj = {
        "parentRefs": [ref.to_wire() for ref in gateway.parent_refs],
        "rules": rules,
    }
    if gateway.hostnames:
        spec["hostnames"] = list(gateway.hostnames)
    return {
        "apiVersion": HTTPROUTE_API_VERSION,
        "kind": "HTTPRoute",
        "metadata": {
            "name": http_route_name(name),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(mdep_body, "Deployment")],
        },
        "spec": spec,
    }


def _backend(service: str, port: int, weight: int | None) -> Obj:
    ref: Obj = {"group": "", "kind": "Service", "name": service, "port": port}
    if weight is not None:
        ref["weight"] = weight
    return ref


def _pinned(version: int, backend: Obj) -> Obj:
    header = {"type": "Exact", "name": VERSION_HEADER, "value": str(version)}
    return {"matches": [{"headers": [header]}], "backendRefs": [backend]}
