"""Production rolls from version 1 to version 2 under continuous traffic and loses no request.

The client calls production the way a user in the cluster does: through its Service's
ClusterIP, which kube-proxy routes to the production pods the EndpointSlice controller lists
(Ready and not terminating). Every request opens a new connection, so each one is routed by the
rules kube-proxy holds at that moment, which lag the pods' state a little. The stage pods'
preStop sleep, the server's drain after SIGTERM and uvicorn's graceful shutdown are what make
that safe: without the preStop and the drain, this test sees connection errors from the
terminating pods.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS, PODS, SERVICES
from support.factories import iris_deployment, iris_model
from support.in_cluster import InClusterOperator
from support.live import approve, awaiting_approval, retrain, wait_for_status
from support.waiting import wait_for

pytestmark = pytest.mark.e2e
SELECTOR = {"modelship.io/deployment": "iris", "modelship.io/stage": "production"}
BODY = {
    "inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 4], "data": [6.7, 3, 5.2, 2.3]}]
}


def endpoints(kube: Kube, namespace: str) -> list[tuple[str, str]]:
    """(pod IP, version) of the production pods the Service routes to now."""
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
    """Requests sent to the production Service, one after another, until stopped; every
    outcome counted."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self.answered: Counter[str] = Counter()  # by the version that answered
        self.failures: list[str] = []
        self._thread = threading.Thread(target=self._send)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _send(self) -> None:
        # No keep-alive: a new connection per request, routed by kube-proxy's current rules.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=10, trust_env=False, limits=limits) as client:
            while not self._stop.is_set():
                try:
                    answer = client.post(self._url, json=BODY)
                except httpx.HTTPError as error:
                    self.failures.append(f"{type(error).__name__}: {error}")
                    continue
                if answer.status_code == 200:
                    self.answered[answer.json()["model_version"]] += 1
                else:
                    self.failures.append(f"{answer.status_code} {answer.text}")
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
    cluster_ip = kube.get(SERVICES, namespace, "iris")["spec"]["clusterIP"]
    url = f"http://{cluster_ip}/v2/models/iris/infer"

    retrain(kube, namespace, "iris", "zero-drop")
    wait_for_status(kube, MODEL_DEPLOYMENTS, namespace, "iris", awaiting_approval(2), 240)
    with Traffic(url) as traffic:
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
