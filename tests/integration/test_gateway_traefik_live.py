"""`traffic: gatewayAPI` end to end through a real Gateway (Traefik, built from its Go module).

The operator only writes a weighted HTTPRoute; here a Gateway API implementation reads it and
splits the requests, so the shares are measured where a user's callers are: at the Gateway, by
hostname, each answer counted by the `model_version` it carries. Version 1 serves everything;
version 2 goes 20 % → 60 % → 100 % with analysis passing at each step (the share measured over
400 requests while each step is paused); version 3 (a one-split tree that never predicts one of
the classes) is aborted at its first analysis, and the Gateway then sends everything to version
2 again. Nothing in the test or the operator names the implementation, except the fixture that
starts it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest

from conftest import running_operator
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import HTTPROUTES, MODEL_DEPLOYMENTS, MODELS
from support.canary import canary, deploy_canary
from support.gateway import GatewayTraffic, LiveGateway, running_gateway
from support.live import approve, awaiting_approval, condition, retrain
from support.operator import OperatorProcess
from support.waiting import wait_for

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
ANALYSIS = {"analysis": {"interval": "10s", "minRequests": 30}}
STEPS = [{"setWeight": 20}, ANALYSIS, {"pause": {}}, {"setWeight": 60}, ANALYSIS, {"pause": {}},
         {"setWeight": 100}]  # fmt: skip
MEASURED = 400
TOLERANCE = 4  # percentage points


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """A production deadline a busy machine still meets: this module tests the split."""
    yield from running_operator(
        cluster_kubeconfig, tmp_path_factory, rollout_deadline_seconds="120"
    )


@pytest.fixture(scope="module")
def live_gateway(
    kube_api: kubernetes.client.ApiClient,
    cluster_kubeconfig: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveGateway]:
    with running_gateway(kube_api, cluster_kubeconfig, tmp_path_factory.mktemp("traefik")) as gw:
        yield gw


def share(counted: Counter[str], version: int) -> float:
    return 100 * counted[str(version)] / sum(counted.values())


def paused_at(weight: int) -> Any:
    return lambda s: (
        canary(s).get("weight") == weight and "modelship promote" in canary(s).get("waitingFor", "")
    )


def promote(kube: Kube, namespace: str, name: str, status: Obj) -> None:
    step = f"{canary(status)['version']}/{canary(status)['step']}"
    annotations = {"modelship.io/promote": step}
    kube.patch(MODEL_DEPLOYMENTS, namespace, name, {"metadata": {"annotations": annotations}})


def route_weights(kube: Kube, namespace: str, name: str) -> list[int]:
    """The weights of the route's weighted rule (the one without a header match; the API server
    gives it a default path match)."""
    route = kube.get(HTTPROUTES, namespace, name) or {}
    rules = route["spec"]["rules"]
    (weighted,) = [r for r in rules if not any(m.get("headers") for m in r.get("matches") or [])]
    return [ref.get("weight", 1) for ref in weighted["backendRefs"]]


def test_the_gateway_is_programmed_and_answers_404_for_a_host_no_route_names(
    live_gateway: LiveGateway, kube_api: kubernetes.client.ApiClient
) -> None:
    objects = kubernetes.client.CustomObjectsApi(kube_api)
    body = objects.get_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", live_gateway.namespace, "gateways", live_gateway.name
    )
    assert body["status"]["addresses"] == [{"type": "IPAddress", "value": "127.0.0.1"}]
    answer = httpx.get(live_gateway.url("/v2/health/ready"), headers={"Host": "nobody.example"})
    assert answer.status_code == 404, answer.text


def test_a_gateway_api_canary_is_split_by_the_gateway_promoted_and_a_bad_one_aborted(
    operator: OperatorProcess, live_gateway: LiveGateway, kube: Kube, namespace: str
) -> None:
    name, host = "iris", f"iris.{namespace}.example"
    lenient = {"maxLatencyRatio": 20, "latencySlackMs": 200}
    gateway_ref = {"parentRefs": [live_gateway.parent_ref()], "hostnames": [host]}
    rollout = {"strategy": "canary", "traffic": "gatewayAPI", "steps": STEPS,
               "thresholds": lenient, "gateway": gateway_ref}  # fmt: skip
    wait = deploy_canary(kube, operator, namespace, name, replicas=2, rollout=rollout)

    wait(awaiting_approval(1))
    approve(kube, namespace, name)  # the first promotion surges: nothing to compare with yet
    # The route is written with production and accepted by the Gateway: it says so on status.
    wait(
        lambda s: (
            s.get("phase") == "Serving"
            and (s.get("production") or {}).get("readyReplicas") == 2
            and condition(s, "GatewayRoute")["reason"] == "Accepted"
        )
    )
    traffic = GatewayTraffic(live_gateway, host, name)
    steady = traffic.measure(100)
    assert steady == Counter({"1": 100}) and not traffic.failures, (steady, traffic.failures[:3])

    retrain(kube, namespace, name, "v2")
    wait(awaiting_approval(2))
    approve(kube, namespace, name)
    with traffic:
        status = wait(paused_at(20), 240)
        assert [a["outcome"] for a in canary(status)["analyses"]][-1] == "Passed"
        assert route_weights(kube, namespace, name) == [80, 20]
        at_20 = traffic.measure(MEASURED)
        promote(kube, namespace, name, status)
        status = wait(paused_at(60), 240)
        assert [a["outcome"] for a in canary(status)["analyses"]][-1] == "Passed"
        at_60 = traffic.measure(MEASURED)
        promote(kube, namespace, name, status)
        status = wait(lambda s: s.get("phase") == "Serving" and s["production"]["version"] == 2
                      and not s.get("canary"), 240)  # fmt: skip
    after = traffic.measure(100)
    print(
        f"\nthrough the Gateway: {share(at_20, 2):.1f} % at 20 %, {share(at_60, 2):.1f} % at 60 % "
        f"({MEASURED} requests each), after promotion {dict(after)}; "
        f"background {dict(traffic.versions)}; failed: {len(traffic.failures)}"
    )
    assert not traffic.failures, (len(traffic.failures), traffic.failures[:3])
    assert abs(share(at_20, 2) - 20) <= TOLERANCE, at_20
    assert abs(share(at_60, 2) - 60) <= TOLERANCE, at_60
    assert set(at_20) == set(at_60) == {"1", "2"}, (at_20, at_60)
    assert after == Counter({"2": 100}), after
    events = [h["event"] for h in status["history"]]
    assert events[:3] == ["Promoted", "CanaryCompleted", "CanaryStarted"], events

    # version 3 never predicts one class: its first analysis fails on the predictions' PSI
    tree = {"name": "decision_tree", "params": {"max_depth": 1, "n_estimators": None}}
    kube.patch(MODELS, namespace, name, {"spec": {"algorithm": tree}})
    wait(awaiting_approval(3), 240)
    approve(kube, namespace, name)
    with traffic:
        status = wait(lambda s: condition(s, "RolledBack")["reason"] == "CanaryAborted", 240)
    rolled = condition(status, "RolledBack")["message"]
    assert "predictionPsi" in rolled, rolled
    assert status["failedRollout"]["version"] == 3 and status["production"]["version"] == 2
    assert traffic.versions["3"] > 0, traffic.versions  # the bad canary did get its share
    # After the abort the route sends everything to stable again, measured at the Gateway once
    # it has taken the route (accepted, then loaded: 20 answers in a row from stable).
    wait(lambda s: condition(s, "GatewayRoute")["reason"] == "Accepted"
         and route_weights(kube, namespace, name) == [1])  # fmt: skip
    wait_for(lambda: traffic.measure(20) == Counter({"2": 20}), timeout=30,
             what="the Gateway sending all to version 2", describe=live_gateway.tail)  # fmt: skip
    aborted = traffic.measure(MEASURED)
    print(f"after the abort: {dict(aborted)} of {MEASURED} through the Gateway")
    assert aborted == Counter({"2": MEASURED}), aborted
    assert not traffic.failures, traffic.failures[:3]
