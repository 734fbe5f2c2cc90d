"""Shadow traffic on the local cluster, traffic sent through the router's pod addresses.

Version 1 serves production; `spec.test.shadow` mirrors every production request to the test
stage while a version awaits approval. Version 2 (the same seeded recipe) agrees with production
on every row; version 3 (a one-split tree that never predicts one of the classes) does not, and
its figures are its own, not version 2's. Callers are answered by production alone, every time.
Approving version 3 retires the router in two steps: its table is pointed at stable alone while
its pods drain, then the routing table goes, and production's Service selects the stable pods.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import running_operator
from modelship.contracts.routing import RoutingTable
from modelship.operator.deployment.builders.canary import router_name, routing_name
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import (
    APPS_DEPLOYMENTS,
    CONFIG_MAPS,
    MODEL_DEPLOYMENTS,
    MODELS,
    PODS,
    SERVICES,
)
from support.factories import iris_deployment, iris_model
from support.live import (
    approve,
    awaiting_approval,
    infer,
    pod_ips,
    production_pod_ips,
    retrain,
    wait_for_status,
)
from support.operator import OperatorProcess
from support.routed import ROWS, Traffic, router_ips
from support.waiting import wait_for

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
MIRRORED = 100  # requests compared before the figures are judged


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator as a process, with a production deadline that a busy machine still meets."""
    yield from running_operator(
        cluster_kubeconfig, tmp_path_factory, rollout_deadline_seconds="120"
    )


def shadow_of(status: Obj) -> Obj:
    return dict((status.get("test") or {}).get("shadow") or {})


def shadowed(version: int) -> Any:
    """Status check: at least MIRRORED requests of `version` compared, both p95 known."""
    return lambda s: (
        shadow_of(s).get("version") == version
        and shadow_of(s).get("requests", 0) >= MIRRORED
        and shadow_of(s).get("shadowP95Ms") is not None
    )


def agreement_on_rows(kube: Kube, namespace: str, name: str, tested: int) -> float:
    """The share of ROWS a production pod and a pod of version `tested` predict alike."""
    with httpx.Client(timeout=10) as client:
        production = infer(client, production_pod_ips(kube, namespace, name)[0], name, ROWS)
        test = infer(client, serving_pod_ips_of_test(kube, namespace, name, tested)[0], name, ROWS)
    return sum(a == b for a, b in zip(production, test, strict=True)) / len(ROWS)


def serving_pod_ips_of_test(kube: Kube, namespace: str, name: str, version: int) -> list[str]:
    return pod_ips(kube, namespace, name, "test", version=version, component="serving")


def router_state(kube: Kube, namespace: str, name: str) -> tuple[bool, int, Obj | None, Obj]:
    """(router Deployment exists, router pods left, routing table, production Service selector)."""
    pods = kube.list(PODS, namespace, {"modelship.io/deployment": name,
                                       "modelship.io/stage": "router"})  # fmt: skip
    config = kube.get(CONFIG_MAPS, namespace, routing_name(name))
    table = RoutingTable.from_data(config.get("data")).model_dump() if config else None
    service = kube.get(SERVICES, namespace, name) or {}
    return (
        kube.get(APPS_DEPLOYMENTS, namespace, router_name(name)) is not None,
        len(pods),
        table,
        dict((service.get("spec") or {}).get("selector") or {}),
    )


def test_shadow_figures_appear_while_awaiting_approval_and_the_router_retires_after(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    name = "iris"
    kube.create(
        MODELS,
        namespace,
        iris_model(name, evaluation={"testFraction": 0.3, "seed": 3, "gates": []}),
    )
    test = {"replicas": 1, "acceptance": {"minAccuracy": 0.5, "maxLatencyMs": 1000}}
    deployment = iris_deployment(
        name, test={**test, "shadow": {"percent": 100}}, production={"replicas": 2}
    )
    kube.create(MODEL_DEPLOYMENTS, namespace, deployment)
    wait = lambda check, timeout=180: wait_for_status(  # noqa: E731
        kube, MODEL_DEPLOYMENTS, namespace, name, check, timeout, describe=operator.tail
    )
    wait(awaiting_approval(1))
    # nothing serves production yet: nothing to mirror, so no router
    assert kube.get(APPS_DEPLOYMENTS, namespace, router_name(name)) is None
    approve(kube, namespace, name)
    wait(lambda s: s.get("phase") == "Serving" and s["production"].get("readyReplicas") == 2)

    retrain(kube, namespace, name, "v2")
    wait(awaiting_approval(2))
    ips = wait_for(lambda: router_ips(kube, namespace, name), timeout=120, what="router pods")
    with Traffic(ips, name) as background:
        status = wait(shadowed(2))
    same = shadow_of(status)
    assert same["percent"] == 100 and same["agreement"] == 1.0, same  # same seed, same trees
    assert same["productionP95Ms"] > 0 and same["shadowP95Ms"] > 0, same
    assert not background.failures, background.failures[:3]
    assert set(background.backends) == {"stable"}  # callers are answered by production only
    assert status["phase"] == "AwaitingApproval" and status["production"]["version"] == 1
    print(f"\nshadow of version 2: {same}")

    # version 3 never predicts one class: it disagrees on some rows, and says so on its own
    kube.patch(MODELS, namespace, name, {"spec": {"algorithm": {
        "name": "decision_tree", "params": {"max_depth": 1, "n_estimators": None}}}})  # fmt: skip
    wait(awaiting_approval(3), 240)
    ips = wait_for(lambda: router_ips(kube, namespace, name), timeout=120, what="router pods")
    with Traffic(ips, name) as background:
        status = wait(shadowed(3))
    other = shadow_of(status)
    # Every row is mirrored equally often, so agreement is the share of ROWS both versions
    # predict alike; version 2's agreeing rows, counted in, would have raised it.
    expected = agreement_on_rows(kube, namespace, name, 3)
    assert expected < 1 and abs(other["agreement"] - expected) <= 0.02, (expected, other)
    assert other["productionP95Ms"] > 0 and other["shadowP95Ms"] > 0, other
    assert not background.failures, background.failures[:3]
    assert set(background.backends) == {"stable"}
    print(f"shadow of version 3: {other}")

    # approving the shadowed version retires the router: stable alone first, then removed
    approve(kube, namespace, name)
    seen: list[tuple[bool, int, Obj | None, Obj]] = []

    def retired() -> bool:
        seen.append(router_state(kube, namespace, name))
        router, pods, table, selector = seen[-1]
        return not router and not pods and table is None and selector.get(
            "modelship.io/stage") == "production"  # fmt: skip

    wait_for(retired, timeout=120, interval=0.2, what="router retired", describe=operator.tail)
    assert all(table is not None for _, pods, table, _ in seen if pods), seen
    drained = [table for router, pods, table, _ in seen if pods and not router]
    assert drained and all(t and t["shadow"] is None and t["canary"] is None for t in drained)
    wait(lambda s: s.get("phase") == "Serving" and s["production"]["version"] == 3)
    assert router_state(kube, namespace, name)[:3] == (False, 0, None)
