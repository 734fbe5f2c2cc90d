"""The canary traffic modes' API, builders and route reading, without a cluster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from kubernetes import client
from pydantic import ValidationError

from modelship.api.v1alpha1 import DeploymentSpec
from modelship.api.v1alpha1.progressive import GatewaySpec, RolloutSpec
from modelship.operator.deployment.builders.canary import (
    build_backend_service,
    build_canary_deployment,
)
from modelship.operator.deployment.builders.stages import (
    build_stage_deployment,
    build_stage_service,
)
from modelship.operator.deployment.builders.traffic import (
    build_http_route,
    effective_share,
    replica_split,
    shared_selector,
)
from modelship.operator.deployment.canary_observe import observe_canary
from modelship.operator.deployment.observation import RouteState, Subject
from modelship.operator.kube.client import Kube, KubeError
from modelship.operator.kube.resources import HTTPROUTES, PODS
from support.deployments import D1, D2, NOW, SETTINGS, body
from support.fake_kube import FakeKube

MOMENT = datetime.fromisoformat(NOW.replace("Z", "+00:00"))
STEPS = [{"setWeight": 25}, {"analysis": {"interval": "30s"}}]
GATEWAY = {"parentRefs": [{"name": "public", "namespace": "infra", "sectionName": "https"}]}


def rollout(**extra: Any) -> RolloutSpec:
    return RolloutSpec.model_validate({"strategy": "canary", "steps": STEPS, **extra})


@pytest.mark.parametrize(
    ("total", "weight", "split"),
    [
        (4, 0, (0, 4)),
        (4, 10, (1, 3)),  # 0.4 pods rounds to none, but a weighted canary gets one
        (4, 25, (1, 3)),
        (4, 50, (2, 2)),
        (4, 60, (2, 2)),  # 2.4 rounds down: the share is only as fine as one pod in four
        (4, 63, (3, 1)),  # 2.52 rounds up
        (4, 90, (4, 1)),  # stable keeps one pod while the rollout runs
        (10, 35, (4, 6)),  # 3.5 rounds half up
        (1, 10, (1, 1)),  # one production pod: any weight is half the pods
        (2, 100, (2, 1)),
    ],
)
def test_replica_split(total: int, weight: int, split: tuple[int, int]) -> None:
    assert replica_split(total, weight) == split


def test_the_effective_share_is_of_ready_pods_and_unknown_without_any() -> None:
    assert effective_share(1, 3) == 25.0
    assert effective_share(1, 2) == 33.3
    assert effective_share(0, 0) is None


def test_stable_and_canary_pods_carry_the_label_the_shared_selector_names() -> None:
    stable = build_stage_deployment(body(), "production", 1, D1, 2, None, SETTINGS)
    canary = build_canary_deployment(body(), 2, D2, 1, None, SETTINGS)
    test = build_stage_deployment(body(), "test", 2, D2, 1, None, SETTINGS)
    selector = shared_selector("iris")
    for deployment in (stable, canary):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
    assert not selector.items() <= test["spec"]["template"]["metadata"]["labels"].items()
    # the Deployments' own (immutable) selectors are unchanged and still disjoint
    assert stable["spec"]["selector"]["matchLabels"] == {
        "modelship.io/deployment": "iris",
        "modelship.io/stage": "production",
    }
    assert canary["spec"]["selector"]["matchLabels"]["modelship.io/stage"] == "canary"


def test_traffic_modes_are_validated() -> None:
    assert rollout().traffic == "router"
    assert rollout(traffic="replicas").traffic == "replicas"
    gateway = rollout(traffic="gatewayAPI", gateway=GATEWAY).gateway
    assert gateway is not None and gateway.parent_refs[0].section_name == "https"
    with pytest.raises(ValidationError, match="gatewayAPI and gateway"):
        rollout(traffic="gatewayAPI")
    with pytest.raises(ValidationError, match="gatewayAPI and gateway"):
        rollout(gateway=GATEWAY)
    with pytest.raises(ValidationError, match=r"traffic applies only to strategy: canary"):
        RolloutSpec.model_validate({"traffic": "replicas"})
    with pytest.raises(ValidationError, match=r"parentRefs|parent_refs"):
        rollout(traffic="gatewayAPI", gateway={"parentRefs": []})


def test_shadow_is_refused_with_the_replica_ratio() -> None:
    spec = {"modelRef": {"name": "iris"}, "test": {"shadow": {"percent": 10}}}
    replicas = {"strategy": "canary", "steps": STEPS, "traffic": "replicas"}
    with pytest.raises(ValidationError, match=r"test\.shadow mirrors requests through"):
        DeploymentSpec.model_validate({**spec, "production": {"rollout": replicas}})
    gateway = {"strategy": "canary", "steps": STEPS, "traffic": "gatewayAPI", "gateway": GATEWAY}
    DeploymentSpec.model_validate({**spec, "production": {"rollout": gateway}})


def route(weight: int | None) -> dict[str, Any]:
    gateway = GatewaySpec.model_validate({**GATEWAY, "hostnames": ["iris.example.com"]})
    return build_http_route(body(), gateway, 1, None if weight is None else (2, weight))


def test_the_http_route_splits_by_weight_and_pins_by_header() -> None:
    built = route(30)
    assert built["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert built["kind"] == "HTTPRoute"
    meta = built["metadata"]
    assert (meta["name"], meta["namespace"]) == ("iris", "ml")
    owner = meta["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Deployment", "iris", "mdep-1", True,
    )  # fmt: skip
    spec = built["spec"]
    assert spec["parentRefs"] == [
        {"name": "public", "namespace": "infra", "sectionName": "https",
         "group": "gateway.networking.k8s.io", "kind": "Gateway"}
    ]  # fmt: skip
    assert spec["hostnames"] == ["iris.example.com"]
    pinned = {
        rule["matches"][0]["headers"][0]["value"]: rule["backendRefs"]
        for rule in spec["rules"]
        if "matches" in rule
    }
    assert {v: [r["name"] for r in refs] for v, refs in pinned.items()} == {
        "2": ["iris-canary"],
        "1": ["iris"],
    }
    header = spec["rules"][0]["matches"][0]["headers"][0]
    assert (header["type"], header["name"]) == ("Exact", "x-modelship-version")
    (weighted,) = [rule for rule in spec["rules"] if "matches" not in rule]
    refs = {ref["name"]: ref for ref in weighted["backendRefs"]}
    assert {name: ref["weight"] for name, ref in refs.items()} == {"iris": 70, "iris-canary": 30}
    assert sum(ref["weight"] for ref in refs.values()) == 100
    assert all(r["kind"] == "Service" for r in refs.values())


def service_ports(name: str) -> set[int]:
    """The ports the Service of that name lists, as the operator builds it."""
    service = (
        build_backend_service(body(), "canary") if name == "iris-canary"
        else build_stage_service(body(), "production")
    )  # fmt: skip
    assert service["metadata"]["name"] == name
    return {port["port"] for port in service["spec"]["ports"]}


@pytest.mark.parametrize("weight", [None, 30])
def test_every_backend_ref_names_a_port_its_service_lists(weight: int | None) -> None:
    """A Gateway resolves backendRef.port against the Service's ports, not the pods': a port
    the Service does not list leaves that backend without endpoints (Traefik answers 500)."""
    refs = [ref for rule in route(weight)["spec"]["rules"] for ref in rule["backendRefs"]]
    expected = {"iris"} if weight is None else {"iris", "iris-canary"}
    assert {ref["name"] for ref in refs} == expected
    for ref in refs:
        assert ref["port"] in service_ports(ref["name"]), ref
    assert {ref["name"]: ref["port"] for ref in refs}["iris"] == 80


def test_without_a_canary_the_route_sends_everything_to_the_production_service() -> None:
    rules = route(None)["spec"]["rules"]
    assert [rule["backendRefs"] for rule in rules if "matches" not in rule] == [
        [{"group": "", "kind": "Service", "name": "iris", "port": 80}]
    ]
    assert len(rules) == 2  # and requests pinned to the stable version go there too


def observed(weight: int | None, generation: int, *parents: tuple[str, int]) -> dict[str, Any]:
    obj = route(weight)
    obj["metadata"]["generation"] = generation
    obj["status"] = {
        "parents": [
            {"parentRef": {"name": "public"}, "controllerName": "example.com/gw",
             "conditions": [{"type": "Accepted", "status": status, "observedGeneration": gen}]}
            for status, gen in parents
        ]
    }  # fmt: skip
    return obj


def test_reading_a_route_tells_its_canary_weight_and_whether_every_gateway_took_it() -> None:
    taken = RouteState.read(observed(30, 4, ("True", 4), ("True", 4)), "iris-canary")
    assert taken is not None and (taken.canary_weight, taken.accepted, taken.stale) == (
        30, True, False,
    )  # fmt: skip
    lagging = RouteState.read(observed(30, 5, ("True", 5), ("True", 4)), "iris-canary")
    assert lagging is not None and (lagging.accepted, lagging.stale) == (False, True)
    refused = RouteState.read(observed(30, 5, ("False", 5)), "iris-canary")
    assert refused is not None and (refused.accepted, refused.stale) == (False, False)
    unattended = RouteState.read(observed(None, 2), "iris-canary")
    assert unattended is not None
    assert (unattended.canary_weight, unattended.accepted, unattended.stale) == (None, False, False)
    assert RouteState.read(None, "iris-canary") is None


def gateway_deployment(**status: Any) -> Any:
    spec = {"strategy": "canary", "steps": STEPS, "traffic": "gatewayAPI", "gateway": GATEWAY}
    mdep = Subject.parse(body(status, production={"replicas": 4, "rollout": spec})).mdep
    assert mdep is not None
    return mdep


def serving_pod(name: str, stage: str, serves: bool) -> dict[str, Any]:
    labels = {"modelship.io/deployment": "iris", "modelship.io/stage": stage}
    if serves:
        labels["modelship.io/serves"] = "production"
    return {"metadata": {"name": name, "namespace": "ml", "labels": labels}, "status": {}}


def test_observing_reads_the_route_only_where_the_gateway_api_is_served() -> None:
    absent = FakeKube(unserved=("gateway.networking.k8s.io/v1",))
    view = observe_canary(absent, gateway_deployment(), "ml", "iris", None, MOMENT)
    assert (view.gateway_served, view.route) == (False, None)
    assert not any(call.resource.endswith("httproutes") for call in absent.calls)
    kube = FakeKube()
    kube.put(HTTPROUTES, observed(40, 1, ("True", 1)))
    for name, stage, serves in [("s0", "production", True), ("s1", "production", False),
                                ("c0", "canary", True), ("t0", "test", False)]:  # fmt: skip
        kube.put(PODS, serving_pod(name, stage, serves))
    view = observe_canary(kube, gateway_deployment(), "ml", "iris", None, MOMENT)
    assert view.gateway_served is True
    assert view.route is not None and (view.route.canary_weight, view.route.accepted) == (40, True)
    assert view.unshared_pods == 1  # s1: a production pod of a template without the label


class Discovery(Kube):
    """The real client's discovery cache over a scripted, empty API server."""

    def __init__(self) -> None:
        super().__init__(client.ApiClient())
        self.installed = False
        self.asked = 0

    def _call(self, method: str, path: str, *_: Any, **kwargs: Any) -> Any:
        if path == "/apis/gateway.networking.k8s.io/v1":
            self.asked += 1
            if self.installed:
                return {"resources": [{"name": "httproutes"}]}
        elif "query" in kwargs:
            return {"items": []}  # a list: nothing there
        raise KubeError(404, "not found")  # discovery before installation, or a get: no object


def test_a_rollout_waiting_for_the_gateway_api_asks_again_and_starts_once_it_is_there() -> None:
    kube = Discovery()
    assert observe_canary(kube, gateway_deployment(), "ml", "iris", None,
                          MOMENT).gateway_served is False  # fmt: skip
    kube.installed = True  # the Gateway API is installed meanwhile
    assert kube.served(HTTPROUTES) is False  # remembered: an ordinary caller does not ask again
    waiting = gateway_deployment(
        conditions=[{"type": "GatewayRoute", "status": "False", "reason": "GatewayAPINotServed"}]
    )
    asked = kube.asked
    view = observe_canary(kube, waiting, "ml", "iris", None, MOMENT)
    assert view.gateway_served is True and kube.asked > asked


def test_the_weight_is_read_from_a_route_as_the_api_server_stores_it() -> None:
    """The Gateway API CRD defaults a rule without matches to a path prefix "/": the weighted
    rule then has matches too, and only header matches mark a rule as pinned."""
    stored = observed(20, 3, ("True", 3))
    for rule in stored["spec"]["rules"]:
        rule["matches"] = [
            {"path": {"type": "PathPrefix", "value": "/"}, **m} for m in rule.get("matches") or [{}]
        ]
    read = RouteState.read(stored, "iris-canary")
    assert read is not None and (read.canary_weight, read.accepted) == (20, True)
