"""Progressive delivery on the local cluster, traffic sent through the router's pod addresses.

One Deployment, three versions: version 1 serves; version 2 (the same recipe) goes 10 % → 50 %
→ 100 % with analysis passing at each step, and the share the canary answers is measured over
1,000 requests while each step is paused; version 3 (a one-split tree that never predicts one of
the classes) is aborted at its first analysis with the metric named, while every request is
answered. Before any traffic the analysis waits and says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton

from conftest import running_operator
from modelship.contracts.routing import ROUTER_GRPC_PORT, ROUTER_PORT, VERSION_HEADER
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS
from support.canary import canary, deploy_canary
from support.live import approve, awaiting_approval, condition, retrain
from support.operator import OperatorProcess
from support.routed import ROWS, Traffic, router_ips
from support.waiting import wait_for

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
ANALYSIS = {"analysis": {"interval": "10s", "minRequests": 30}}
STEPS = [{"setWeight": 10}, ANALYSIS, {"pause": {}}, {"setWeight": 50}, ANALYSIS, {"pause": {}},
         {"setWeight": 100}]  # fmt: skip


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator as a process, with a production deadline that a busy machine still meets
    (this module tests analysis, not rollbacks of pods that never start)."""
    yield from running_operator(
        cluster_kubeconfig, tmp_path_factory, rollout_deadline_seconds="120"
    )


def measured_share(ips: list[str], model: str, requests: int = 1000) -> float:
    """The canary's share of `requests` answers, sent one by one through the routers."""
    traffic = Traffic(ips, model)
    with httpx.Client(timeout=10) as client:
        for index in range(requests):
            traffic.send(client, ROWS[index % len(ROWS)])
    assert not traffic.failures, traffic.failures[:3]
    return 100 * traffic.backends["canary"] / requests


def grpc_predict(ip: str, model: str, rows: list[list[float]]) -> list[int]:
    client = triton.InferenceServerClient(f"{ip}:{ROUTER_GRPC_PORT}")
    try:
        tensor = triton.InferInput("input", [len(rows), len(rows[0])], "FP64")
        tensor.set_data_from_numpy(np.array(rows, dtype=np.float64))
        answer = client.infer(model, [tensor], outputs=[triton.InferRequestedOutput("predict")])
        return list(answer.as_numpy("predict").tolist())
    finally:
        client.close()


def rest_predict(ip: str, model: str, rows: list[list[float]], pin: int) -> list[int]:
    url = f"http://{ip}:{ROUTER_PORT}/v2/models/{model}/infer"
    payload = {"inputs": [{"name": "input", "datatype": "FP64", "shape": [len(rows), 4],
                           "data": rows}]}  # fmt: skip
    answer = httpx.post(url, json=payload, headers={VERSION_HEADER: str(pin)}, timeout=10)
    assert answer.status_code == 200, answer.text
    (predict,) = [o for o in answer.json()["outputs"] if o["name"] == "predict"]
    return list(predict["data"])


def paused_at(weight: int) -> Any:
    return lambda s: (
        canary(s).get("weight") == weight and "modelship promote" in canary(s).get("waitingFor", "")
    )


def promote(kube: Kube, namespace: str, name: str, status: Obj) -> None:
    step = f"{canary(status)['version']}/{canary(status)['step']}"
    kube.patch(
        MODEL_DEPLOYMENTS,
        namespace,
        name,
        {"metadata": {"annotations": {"modelship.io/promote": step}}},
    )


def test_a_canary_goes_step_by_step_and_a_bad_one_is_aborted_on_evidence(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    name = "iris"
    rollout = {"strategy": "canary", "steps": STEPS}
    wait = deploy_canary(kube, operator, namespace, name, replicas=2, rollout=rollout)
    wait(awaiting_approval(1))
    approve(kube, namespace, name)  # the first promotion surges: nothing to compare with yet
    wait(
        lambda s: (
            s.get("phase") == "Serving" and (s.get("production") or {}).get("readyReplicas") == 2
        )
    )

    retrain(kube, namespace, name, "v2")
    wait(awaiting_approval(2))
    approve(kube, namespace, name)
    # no traffic yet: the first analysis window is inconclusive, and says so
    status = wait(lambda s: "of the 30 requests needed" in canary(s).get("waitingFor", ""))
    assert canary(status)["waitingFor"].startswith("inconclusive: stable answered 0")
    assert status["phase"] == "Promoting" and status["production"]["version"] == 1
    ips = wait_for(lambda: router_ips(kube, namespace, name), what="ready router pods")
    with Traffic(ips, name) as background:
        status = wait(paused_at(10))
        assert [a["outcome"] for a in canary(status)["analyses"]][-1] == "Passed"
        # Each router's choice is exact over its own sequence of requests; a second client
        # interleaving with the measured one would only sample it, so it holds back meanwhile.
        background.quiet.set()
        share_10 = measured_share(ips, name)
        background.quiet.clear()
        # gRPC callers of the production Service reach the routers' gRPC port: stable answers.
        for ip in ips:
            assert grpc_predict(ip, name, ROWS[:3]) == rest_predict(ip, name, ROWS[:3], pin=1)
        promote(kube, namespace, name, status)
        status = wait(paused_at(50))
        background.quiet.set()
        share_50 = measured_share(ips, name)
        background.quiet.clear()
        promote(kube, namespace, name, status)
        status = wait(lambda s: s.get("phase") == "Serving" and s["production"]["version"] == 2
                      and not s.get("canary"))  # fmt: skip
    assert abs(share_10 - 10) <= 3 and abs(share_50 - 50) <= 3, (share_10, share_50)
    assert not background.failures, background.failures[:3]
    events = [h["event"] for h in status["history"]]
    assert events[:3] == ["Promoted", "CanaryCompleted", "CanaryStarted"], events
    print(
        f"\ncanary share at 10 %: {share_10:.1f} %, at 50 %: {share_50:.1f} % (1,000 requests each)"
    )

    # version 3 never predicts one class: its first analysis fails on the predictions' PSI
    kube.patch(
        MODELS,
        namespace,
        name,
        {
            "spec": {
                "algorithm": {
                    "name": "decision_tree",
                    "params": {"max_depth": 1, "n_estimators": None},
                }
            }
        },
    )
    wait(awaiting_approval(3), 240)
    approve(kube, namespace, name)
    ips = wait_for(lambda: router_ips(kube, namespace, name), what="ready router pods")
    with Traffic(ips, name) as background:
        status = wait(lambda s: condition(s, "RolledBack")["status"] == "True"
                      and condition(s, "RolledBack")["reason"] == "CanaryAborted")  # fmt: skip
    rolled = condition(status, "RolledBack")["message"]
    assert "predictionPsi" in rolled, rolled
    assert status["failedRollout"]["version"] == 3 and status["production"]["version"] == 2
    assert canary(status)["state"] == "Aborted" and canary(status)["weight"] == 0
    assert not background.failures, background.failures[:3]
    assert sum(background.backends.values()) > 0
