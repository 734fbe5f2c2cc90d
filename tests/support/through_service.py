"""Calling production as a user does: through its Service, from this machine or from a pod.

From this machine the Service's ClusterIP (kube-proxy routes it); from a pod in the model's
namespace the Service's DNS name, resolved by the cluster's DNS. The pod runs under the
namespace's `restricted` Pod Security level like every other pod there.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from modelship.demo.client_pod import client_pod
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import PODS, SERVICES
from support.waiting import wait_for


def infer_request(row: list[float]) -> dict[str, Any]:
    return {"inputs": [{"name": "input", "shape": [1, len(row)], "datatype": "FP64", "data": row}]}


def predict_through_cluster_ip(kube: Kube, namespace: str, service: str, row: list[float]) -> Any:
    """The `predict` output for one row, from this machine through the Service's ClusterIP."""
    cluster_ip = (kube.get(SERVICES, namespace, service) or {})["spec"]["clusterIP"]
    url = f"http://{cluster_ip}/v2/models/{service}/infer"
    answer = httpx.post(url, json=infer_request(row), timeout=10, trust_env=False)
    assert answer.status_code == 200, answer.text
    return next(o for o in answer.json()["outputs"] if o["name"] == "predict")["data"][0]


def predict_from_a_pod(kube: Kube, namespace: str, service: str, row: list[float]) -> Any:
    """The `predict` output for one row, asked by a pod in `namespace` at the Service's DNS
    name (`<service>.<namespace>.svc.cluster.local`)."""
    image = next(
        p["spec"]["containers"][0]["image"]
        for p in kube.list(PODS, namespace, {"modelship.io/deployment": service})
    )
    url = f"http://{service}.{namespace}.svc.cluster.local/v2/models/{service}/infer"
    name = f"client-{uuid.uuid4().hex[:6]}"
    kube.create(PODS, namespace, client_pod(name, image, url, row))

    def finished() -> dict[str, Any] | None:
        pod = kube.get(PODS, namespace, name) or {}
        return pod if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None

    pod = wait_for(finished, timeout=90, what=f"pod {name} to call {url}")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    kube.delete(PODS, namespace, name)
    assert pod["status"]["phase"] == "Succeeded", terminated
    return json.loads(terminated["message"])["predict"]
