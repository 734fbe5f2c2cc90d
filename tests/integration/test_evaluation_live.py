"""Live evaluation on the local cluster, its registry as catalog and capture store.

Iris is served with capture at 100 %; predictions are asked of the production pod, labels for some
of them are posted to its feedback route (a few deliberately wrong, so the live accuracy is not
trivially 1), the Deployment is annotated `evaluation.modelship.io/requested`, and the evaluation
Job the operator starts joins the segments in the registry and reports: status.performance shows
production's live accuracy with its Wilson interval, labelled and captured counts, coverage and the
offline test accuracy, and the Job is gone afterwards.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sklearn.datasets import load_iris

from conftest import running_operator
from modelship.api.v1alpha1 import EVALUATE_ANNOTATION
from modelship.catalog.segments import default_store_uri, open_segment_store
from modelship.devcluster.cluster import DevCluster
from modelship.monitoring.intervals import wilson
from modelship.operator.deployment.builders.stages import SERVING_PORT
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import JOBS, MODEL_DEPLOYMENTS, MODELS, SECRETS
from support.factories import iris_deployment, iris_model
from support.live import approve, awaiting_approval, production_pod_ips, wait_for_status
from support.operator import OperatorProcess
from support.waiting import wait_for

pytestmark = pytest.mark.integration

TOKEN = "evaluation-live-token"
ROWS = 30
LABELLED = 20
WRONG = 4  # labels flipped on purpose among the labelled rows


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, dev_cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator as a local process, with the cluster's registry as its catalog (serving
    pods mount a volume catalog read-only, so captures go to the registry)."""
    yield from running_operator(
        cluster_kubeconfig,
        tmp_path_factory,
        rollout_deadline_seconds="300",
        catalog_uri=dev_cluster.catalog_uri,
    )


@pytest.mark.timeout(900)
def test_labels_posted_to_production_become_its_live_accuracy(
    operator: OperatorProcess, kube: Kube, namespace: str, dev_cluster: DevCluster
) -> None:
    secret = {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "iris-feedback"},
        "data": {"token": base64.b64encode(TOKEN.encode()).decode()},
    }  # fmt: skip
    kube.create(SECRETS, namespace, secret)
    monitoring = {"capture": {"sampleRate": 1.0, "flushSeconds": 1},
                  "feedback": {"tokenSecret": "iris-feedback"}}  # fmt: skip
    kube.create(MODELS, namespace, iris_model("iris", monitoring=monitoring))
    kube.create(MODEL_DEPLOYMENTS, namespace,
                iris_deployment("iris", production={"replicas": 1}))  # fmt: skip
    wait_for_status(kube, MODEL_DEPLOYMENTS, namespace, "iris", awaiting_approval(1), 420)
    approve(kube, namespace, "iris")
    status = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris",
        lambda s: s.get("phase") == "Serving" and (s.get("production") or {}).get("readyReplicas"),
        300,
    )  # fmt: skip
    assert status.get("performance") is None  # no schedule, no request: nothing evaluated

    x, y = load_iris(return_X_y=True)
    picked = list(range(0, 150, 5))[:ROWS]
    (ip,) = production_pod_ips(kube, namespace, "iris")
    body = {
        "id": "eval-live",
        "inputs": [{"name": "input", "datatype": "FP64", "shape": [ROWS, 4],
                    "data": x[picked].ravel().tolist()}],
        "outputs": [{"name": "predict"}, {"name": "modelship_id"}],
    }  # fmt: skip
    base = f"http://{ip}:{SERVING_PORT}/v2/models/iris"
    with httpx.Client(timeout=15) as client:
        answer = client.post(f"{base}/infer", json=body)
        assert answer.status_code == 200, answer.text
        outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
        predicted, ids = outputs["predict"], outputs["modelship_id"]
        truth = [int(y[i]) for i in picked[:LABELLED]]
        truth[:WRONG] = [(t + 1) % 3 for t in truth[:WRONG]]
        labels = [{"id": i, "label": t} for i, t in zip(ids, truth, strict=False)]
        sent = client.post(f"{base}/feedback", json={"labels": labels},
                           headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
        assert sent.status_code == 200 and sent.json()["accepted"] == LABELLED, sent.text
    correct = sum(int(p) == t for p, t in zip(predicted, truth, strict=False))

    # Segments are flushed every second: ask for an evaluation once both kinds are in the store.
    store = open_segment_store(default_store_uri(dev_cluster.catalog_uri, namespace, "iris"))
    wait_for(lambda: store.names("captures") and store.names("labels"),
             what="capture and label segments in the registry", timeout=60)  # fmt: skip
    kube.patch(MODEL_DEPLOYMENTS, namespace, "iris",
               {"metadata": {"annotations": {EVALUATE_ANNOTATION: "1"}}})  # fmt: skip
    status = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris",
        lambda s: bool((s.get("performance") or {}).get("evaluatedAt"))
        or bool((s.get("performance") or {}).get("error")),
        240,
    )  # fmt: skip
    performance = status["performance"]
    assert performance.get("error") is None, performance
    (production,) = performance["versions"]
    low, high = wilson(correct, LABELLED)
    assert production["role"] == "production" and production["version"] == 1
    assert (production["captured"], production["labelled"]) == (ROWS, LABELLED)
    assert production["value"] == pytest.approx(correct / LABELLED)
    assert (production["low"], production["high"]) == (pytest.approx(low), pytest.approx(high))
    assert production["method"] == "wilson" and production["coverage"] == pytest.approx(2 / 3)
    assert production["offline"] is not None and production["offline"] > 0.8
    assert performance["live"].startswith(f"accuracy={correct / LABELLED:.3f} [")
    assert performance["requested"] == "1" and performance["runs"] == 1
    print(f"live accuracy {correct}/{LABELLED} = {production['value']:.3f} "
          f"[{production['low']:.3f}, {production['high']:.3f}], "
          f"offline {production['offline']:.3f}")  # fmt: skip
    wait_for(lambda: kube.list(JOBS, namespace, {"modelship.io/stage": "evaluation"}) == [],
             what="the finished evaluation Job deleted", timeout=60)  # fmt: skip
