"""A canary survives its operator: killed with SIGKILL mid-analysis (a crash, an OOM kill), the
next operator resumes the same step at the same weight from status alone. Meanwhile the routers
keep the split they were given — the canary keeps answering its share — and every request sent
through them is answered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import running_operator
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS
from support.canary import canary, deploy_canary
from support.live import approve, awaiting_approval, retrain
from support.operator import OperatorProcess
from support.routed import Traffic, router_ips
from support.waiting import wait_for

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
STEPS = [{"setWeight": 50}, {"analysis": {"interval": "10s", "minRequests": 20}}, {"pause": {}},
         {"setWeight": 100}]  # fmt: skip


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    yield from running_operator(
        cluster_kubeconfig, tmp_path_factory, rollout_deadline_seconds="120"
    )


def test_an_operator_killed_mid_analysis_resumes_the_same_step(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    name = "iris"
    rollout = {"strategy": "canary", "steps": STEPS}
    wait = deploy_canary(kube, operator, namespace, name, replicas=2, rollout=rollout)
    wait(awaiting_approval(1))
    approve(kube, namespace, name)
    wait(lambda s: s.get("phase") == "Serving" and s["production"].get("readyReplicas") == 2)
    retrain(kube, namespace, name, "v2")
    wait(awaiting_approval(2))
    approve(kube, namespace, name)
    ips = wait_for(lambda: router_ips(kube, namespace, name), what="ready router pods")

    with Traffic(ips, name) as traffic:
        status = wait(lambda s: canary(s).get("step") == 1 and canary(s).get("weight") == 50)
        operator.kill()
        before = dict(traffic.backends)
        time.sleep(8)  # no operator at all: the routers carry on with the table they have
        during = {side: traffic.backends[side] - before.get(side, 0) for side in traffic.backends}
        assert during.get("stable", 0) > 0 and during.get("canary", 0) > 0, during
        operator.start()
        operator.serve_webhooks()  # a new process generates a new certificate
        status = wait(
            lambda s: (
                canary(s).get("step") == 2
                and "modelship promote" in canary(s).get("waitingFor", "")
            )
        )
        outcomes = [a["outcome"] for a in canary(status)["analyses"]]
        assert canary(status)["version"] == 2 and canary(status)["weight"] == 50
        assert outcomes[-1] == "Passed", canary(status)["analyses"]
        assert status["production"]["version"] == 1 and status["phase"] == "Promoting"
    assert not traffic.failures, traffic.failures[:3]
    # The step the operator died in was not started again from scratch by a new weight.
    history = [h["event"] for h in status["history"]]
    assert history.count("CanaryStarted") == 1, history

    kube.patch(
        MODEL_DEPLOYMENTS,
        namespace,
        name,
        {"metadata": {"annotations": {"modelship.io/promote": f"2/{canary(status)['step']}"}}},
    )
    wait(lambda s: s.get("phase") == "Serving" and s["production"]["version"] == 2
         and not s.get("canary"))  # fmt: skip
