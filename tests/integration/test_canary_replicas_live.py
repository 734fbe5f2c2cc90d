"""A canary split by replica ratio (`traffic: replicas`) on the local cluster.

The local cluster runs no kube-proxy, so a Service's ClusterIP answers nothing here. What
kube-proxy would balance over is the Service's EndpointSlices, written by the real EndpointSlice
controller; the test reads them, checks that they hold the stable and canary pods in the counts
of the split, and sends its traffic to exactly those addresses, one new connection per request,
as kube-proxy would spread new connections. A good version completes; a version that predicts
differently is aborted at its first analysis, and the Service selects stable alone again.

A cluster without the Gateway API's CRDs (the local one unless a test installs them): a
`traffic: gatewayAPI` canary does not start there, says why, and falls back to nothing.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import running_operator
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import (
    APPS_DEPLOYMENTS,
    CONFIG_MAPS,
    MODEL_DEPLOYMENTS,
    MODELS,
    PODS,
    SERVICES,
    Resource,
)
from support.canary import canary, deploy_canary
from support.gateway_api import gateway_api_removed
from support.live import approve, awaiting_approval, condition, retrain
from support.operator import OperatorProcess
from support.waiting import wait_for

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [6.7, 3.0, 5.2, 2.3], [5.8, 2.7, 5.1, 1.9],
        [4.9, 3.0, 1.4, 0.2], [5.7, 2.8, 4.1, 1.3]]  # fmt: skip
ANALYSIS = {"analysis": {"interval": "10s", "minRequests": 20}}
STEPS = [{"setWeight": 34}, ANALYSIS, {"pause": {}}, {"setWeight": 100}]
SHARED = {"modelship.io/deployment": "iris", "modelship.io/serves": "production"}
STABLE_ONLY = {"modelship.io/deployment": "iris", "modelship.io/stage": "production"}


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """A production deadline a busy machine still meets: this module tests the split."""
    yield from running_operator(
        cluster_kubeconfig, tmp_path_factory, rollout_deadline_seconds="120"
    )


def slices(kube: Kube) -> Resource:
    return Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")


def behind_service(kube: Kube, namespace: str, name: str) -> dict[str, str]:
    """The ready addresses in the Service's EndpointSlices, with the stage of the pod of each."""
    selector = {"kubernetes.io/service-name": name}
    ready = {
        address
        for item in kube.list(slices(kube), namespace, selector)
        for endpoint in item.get("endpoints") or []
        if (endpoint.get("conditions") or {}).get("ready") is not False
        for address in endpoint.get("addresses") or []
    }
    stages = {
        p["status"].get("podIP"): p["metadata"]["labels"]["modelship.io/stage"]
        for p in kube.list(PODS, namespace, {"modelship.io/deployment": name})
    }
    return {address: stages.get(address, "?") for address in sorted(ready)}


def split_is(canary: int, stable: int) -> Any:
    def check(behind: dict[str, str]) -> dict[str, str] | None:
        counts = Counter(behind.values())
        return behind if counts == Counter(canary=canary, production=stable) else None

    return check


class Traffic:
    """Requests spread over the Service's endpoints, a new connection each, answers counted."""

    def __init__(self, kube: Kube, namespace: str, name: str) -> None:
        self.kube, self.namespace, self.name = kube, namespace, name
        self.answered: Counter[str] = Counter()
        self.failures: list[str] = []
        # No keep-alive: every request opens its own connection, as kube-proxy would see it.
        self.client = httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))

    def send(self, requests: int) -> None:
        behind = behind_service(self.kube, self.namespace, self.name)
        addresses = itertools.cycle(sorted(behind))
        for index in range(requests):
            address = next(addresses)
            # every pod sees every row: rows and addresses must not cycle in step, or each pod
            # would answer its own subset and their predictions would differ by construction
            row = ROWS[(index // len(behind)) % len(ROWS)]
            body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": row}]}
            try:
                answer = self.client.post(
                    f"http://{address}:8080/v2/models/{self.name}/infer", json=body
                )
            except httpx.HTTPError as error:
                self.failures.append(f"{address}: {error}")
                continue
            if answer.status_code != 200:
                self.failures.append(f"{address}: HTTP {answer.status_code} {answer.text[:200]}")
            self.answered[behind[address]] += 1

    def until(self, wait: Callable[..., Obj], check: Callable[[Obj], bool]) -> Obj:
        """Keep sending (a burst between two looks at status) until `check(status)` holds."""
        return wait(lambda s: check(s) or self.send(30), 240)


def test_a_replica_ratio_canary_splits_by_pods_completes_and_a_bad_one_is_aborted(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    name = "iris"
    # Latency on a busy two-core machine is noise: this module is about the split, so only
    # errors and predictions may fail a window.
    lenient = {"maxLatencyRatio": 20, "latencySlackMs": 200}
    rollout = {"strategy": "canary", "traffic": "replicas", "steps": STEPS, "thresholds": lenient}
    wait = deploy_canary(kube, operator, namespace, name, replicas=3, rollout=rollout)

    def describe() -> str:
        status = kube.get(MODEL_DEPLOYMENTS, namespace, name) or {}
        return (
            f"behind the Service: {behind_service(kube, namespace, name)}; selector "
            f"{selector()}; canary {canary(status.get('status') or {})}\n{operator.tail(8)}"
        )

    def selector() -> dict[str, str]:
        service = kube.get(SERVICES, namespace, name) or {}
        return dict(service.get("spec", {}).get("selector") or {})

    wait(awaiting_approval(1))
    approve(kube, namespace, name)  # the first promotion surges
    wait(lambda s: s.get("phase") == "Serving" and s["production"].get("readyReplicas") == 3)
    assert selector() == STABLE_ONLY  # steady state: no canary, the stable pods only

    retrain(kube, namespace, name, "v2")
    wait(awaiting_approval(2))
    approve(kube, namespace, name)
    # 34 % of 3 pods rounds to one canary pod; stable keeps two: one pod in three behind the
    # Service, what kube-proxy would spread connections over.
    behind = wait_for(
        lambda: split_is(canary=1, stable=2)(behind_service(kube, namespace, name)),
        timeout=180,
        what="one canary and two stable pods behind the production Service",
        describe=describe,
    )
    assert selector() == SHARED
    routers = {"modelship.io/deployment": name, "modelship.io/stage": "router"}
    assert kube.list(PODS, namespace, routers) == []  # no extra hop, no router at all
    assert kube.get(CONFIG_MAPS, namespace, f"{name}-routing") is None
    traffic = Traffic(kube, namespace, name)
    status = traffic.until(wait, lambda s: "modelship promote" in canary(s).get("waitingFor", ""))
    assert not traffic.failures, traffic.failures[:3]
    split = canary(status)
    assert (split["traffic"], split["weight"]) == ("replicas", 34)
    assert (split["canaryPods"], split["stablePods"], split["effectiveWeight"]) == (1, 2, 33.3)
    assert [a["outcome"] for a in split["analyses"]][-1] == "Passed"
    print(f"\nbehind the Service at 34 %: {behind}; answered: {dict(traffic.answered)}")
    kube.patch(
        MODEL_DEPLOYMENTS,
        namespace,
        name,
        {"metadata": {"annotations": {"modelship.io/promote": f"2/{split['step']}"}}},
    )
    status = wait(
        lambda s: (
            s.get("phase") == "Serving" and s["production"]["version"] == 2 and not s.get("canary")
        ),
        240,
    )
    assert selector() == STABLE_ONLY
    wait_for(
        lambda: kube.get(APPS_DEPLOYMENTS, namespace, f"{name}-canary") is None,
        what="the canary Deployment removed",
    )
    wait_for(
        lambda: split_is(canary=0, stable=3)(behind_service(kube, namespace, name)),
        timeout=120,
        what="three stable pods of version 2 behind the Service",
    )

    # version 3 never predicts one class: its first analysis fails on the predictions' PSI
    tree = {"name": "decision_tree", "params": {"max_depth": 1, "n_estimators": None}}
    kube.patch(MODELS, namespace, name, {"spec": {"algorithm": tree}})
    wait(awaiting_approval(3), 240)
    approve(kube, namespace, name)
    wait_for(
        lambda: split_is(canary=1, stable=2)(behind_service(kube, namespace, name)),
        timeout=180,
        what="the bad canary behind the production Service",
        describe=describe,
    )
    traffic = Traffic(kube, namespace, name)
    status = traffic.until(wait, lambda s: condition(s, "RolledBack")["reason"] == "CanaryAborted")
    assert not traffic.failures, traffic.failures[:3]
    assert "predictionPsi" in condition(status, "RolledBack")["message"]
    assert status["failedRollout"]["version"] == 3 and status["production"]["version"] == 2
    assert selector() == STABLE_ONLY
    wait_for(
        lambda: (
            (kube.get(APPS_DEPLOYMENTS, namespace, name) or {}).get("spec", {}).get("replicas") == 3
        ),
        what="stable scaled back to 3",
    )
    wait_for(
        lambda: kube.get(APPS_DEPLOYMENTS, namespace, f"{name}-canary") is None,
        what="the aborted canary removed",
    )


@pytest.fixture
def without_gateway_api(cluster_kubeconfig: Path) -> Iterator[None]:
    with gateway_api_removed(cluster_kubeconfig):
        yield


def test_a_gateway_api_canary_does_not_start_where_the_api_is_not_served(
    without_gateway_api: None, operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    """Without the Gateway API's CRDs (gateway.networking.k8s.io) the rollout fails closed."""
    name = "iris"
    rollout = {"strategy": "canary", "traffic": "gatewayAPI", "steps": STEPS,
               "gateway": {"parentRefs": [{"name": "public"}]}}  # fmt: skip
    wait = deploy_canary(kube, operator, namespace, name, replicas=1, rollout=rollout)

    wait(awaiting_approval(1))
    approve(kube, namespace, name)  # the first promotion surges: it needs no split
    status = wait(lambda s: s.get("phase") == "Serving")
    assert condition(status, "GatewayRoute")["reason"] == "GatewayAPINotServed"
    retrain(kube, namespace, name, "v2")
    wait(awaiting_approval(2))
    approve(kube, namespace, name)
    status = wait(lambda s: canary(s).get("state") == "Waiting")
    assert "does not serve gateway.networking.k8s.io/v1" in canary(status)["waitingFor"]
    assert canary(status)["weight"] == 0 and status["production"]["version"] == 1
    assert condition(status, "Ready")["status"] == "True"  # version 1 keeps serving
    assert kube.get(APPS_DEPLOYMENTS, namespace, f"{name}-canary") is None  # no fallback
    assert kube.get(SERVICES, namespace, f"{name}-canary") is None
