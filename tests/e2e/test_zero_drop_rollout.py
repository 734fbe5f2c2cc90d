"""Production rolls from version 1 to version 2 under continuous traffic and loses no request.

The client routes the way kube-proxy does: to the production pods the endpoints controller would
list (Ready and not terminating), refreshed every two seconds -- a proxy a little behind, as
under load -- so it keeps sending to an old pod for up to two seconds after the pod starts
terminating. The stage pods' preStop sleep, the server's drain after SIGTERM and uvicorn's
graceful shutdown are what make that safe: without the preStop and the drain, this test sees
connection errors from the terminating pods.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS, PODS
from support.factories import iris_deployment, iris_model
from support.in_cluster import InClusterOperator
from support.live import SERVING_PORT, approve, awaiting_approval, retrain, wait_for_status
from support.waiting import wait_for

pytestmark = pytest.mark.e2e
REFRESH_SECONDS = 2.0
SELECTOR = {"modelship.io/deployment": "iris", "modelship.io/stage": "production"}
BODY = {
    "inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 4], "data": [6.7, 3, 5.2, 2.3]}]
}


def endpoints(kube: Kube, namespace: str) -> list[tuple[str, str]]:
    """(pod IP, version) of the production pods a Service would route to now."""
    return [
        (p["status"]["podIP"], p["metadata"]["labels"]["modelship.io/version"])
        for p in kube.list(PODS, namespace, SELECTOR)
        if p["status"].get("podIP")
        and not p["metadata"].get("deletionTimestamp")
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions", [])
        )
    ]


class Traffic:
    """Requests sent round-robin, one after another, until stopped; every outcome counted."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self._kube, self._namespace = kube, namespace
        self._targets: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self.answered: Counter[str] = Counter()  # by the version that answered
        self.failures: list[str] = []
        self._threads = [
            threading.Thread(target=self._refresh),
            threading.Thread(target=self._send),
        ]

    def __enter__(self) -> Traffic:
        self._targets = endpoints(self._kube, self._namespace)
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            try:
                self._targets = endpoints(self._kube, self._namespace)
            except Exception as error:  # the test's own view failing is not a dropped request
                print(f"endpoint refresh failed: {error}")

    def _send(self) -> None:
        sent = 0
        with httpx.Client(timeout=10, trust_env=False) as client:
            while not self._stop.is_set():
                targets = self._targets
                if not targets:
                    self.failures.append("no endpoint")
                    time.sleep(0.1)
                    continue
                ip, version = targets[sent % len(targets)]
                sent += 1
                url = f"http://{ip}:{SERVING_PORT}/v2/models/iris/infer"
                try:
                    answer = client.post(url, json=BODY)
                except httpx.HTTPError as error:
                    self.failures.append(f"{ip} (v{version}): {type(error).__name__}: {error}")
                    continue
                if answer.status_code == 200:
                    self.answered[answer.json()["model_version"]] += 1
                else:
                    self.failures.append(f"{ip} (v{version}): {answer.status_code} {answer.text}")
                time.sleep(0.005)


def test_a_rollout_under_continuous_traffic_drops_no_request(
    in_cluster_operator: InClusterOperator, kube: Kube, namespace: str
) -> None:
    kube.create(MODELS, namespace, iris_model("iris"))
    kube.create(MODEL_DEPLOYMENTS, namespace, iris_deployment("iris"))
    wait_for_status(kube, MODEL_DEPLOYMENTS, namespace, "iris", awaiting_approval(1), 240)
    approve(kube, namespace, "iris")
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris",
        lambda s: s.get("phase") == "Serving" and s["production"].get("readyReplicas") == 2,
        180, what="Serving version 1 on two pods",
    )  # fmt: skip
    wait_for(lambda: len(endpoints(kube, namespace)) == 2, what="two production endpoints")

    retrain(kube, namespace, "iris", "zero-drop")
    wait_for_status(kube, MODEL_DEPLOYMENTS, namespace, "iris", awaiting_approval(2), 240)
    with Traffic(kube, namespace) as traffic:
        wait_for(lambda: traffic.answered["1"] >= 20, what="traffic answered by version 1")
        approve(kube, namespace, "iris")
        wait_for_status(
            kube, MODEL_DEPLOYMENTS, namespace, "iris",
            lambda s: s.get("phase") == "Serving" and s["production"]["version"] == 2,
            240, what="Serving version 2",
        )  # fmt: skip
        # Until every version-1 pod is gone: their shutdown is what this test is about.
        wait_for(
            lambda: not kube.list(PODS, namespace, {**SELECTOR, "modelship.io/version": "1"}),
            timeout=120,
            what="the version-1 pods to be deleted",
        )
        wait_for(lambda: traffic.answered["2"] >= 20, what="traffic answered by version 2")
    print(f"\nzero-drop rollout: answered {dict(traffic.answered)}, failed {len(traffic.failures)}")
    assert traffic.failures == []
