"""Live evaluation on the local cluster, its registry as catalog and capture store.

Iris is served with capture at 100 %; predictions are asked of the production pod, labels for some
of them are posted to its feedback route (a few deliberately wrong, so the live accuracy is not
trivially 1), and the labels of the others come from a label file the Model names
(`spec.monitoring.labels.files`, served over HTTP from this machine: the Job's pod reads it as
it would a CRM export; file:// files are covered by tests/unit/monitoring/test_label_ingest.py).
The Deployment is annotated `evaluation.modelship.io/requested`, and the evaluation Job the
operator starts stores the file's labels as label segments, joins the segments in the registry
and reports: status.performance shows production's live accuracy with its Wilson interval,
labelled and captured counts, coverage and the offline test accuracy, and what became of the
label file (ingested, with its refused row); the Job is gone afterwards. A second evaluation
finds the file unchanged and stores nothing again.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sklearn.datasets import load_iris

from conftest import running_operator
from modelship.api.v1alpha1 import EVALUATE_ANNOTATION
from modelship.catalog.segments import default_store_uri, open_segment_store, segments
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
REQUEST_ID = "eval-live"


class LabelFile(BaseHTTPRequestHandler):
    """The label file: the rows the feedback route did not label, one orphan, one bad row."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


def production_captures(store: Any) -> int:
    return sum(
        sum(1 for record in records if record.get("stage") == "production")
        for _, records in segments(store, "captures")
    )


@pytest.fixture
def label_file_url(host_for_pods: str) -> Iterator[str]:
    _, y = load_iris(return_X_y=True)
    rows = ["prediction_id,species"]
    rows += [f"{REQUEST_ID}/{row},{int(y[i])}" for row, i in enumerate(picked_rows())
             if row >= LABELLED]  # fmt: skip
    rows += ["someone-else/0,1", f"{REQUEST_ID}/0,"]  # an orphan, and a row without a label
    LabelFile.body = ("\n".join(rows) + "\n").encode()
    server = ThreadingHTTPServer((host_for_pods, 0), LabelFile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{host_for_pods}:{server.server_address[1]}/labels.csv"
    finally:
        server.shutdown()
        server.server_close()


def picked_rows() -> list[int]:
    return list(range(0, 150, 5))[:ROWS]


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
    operator: OperatorProcess, kube: Kube, namespace: str, dev_cluster: DevCluster,
    label_file_url: str,
) -> None:  # fmt: skip
    secret = {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "iris-feedback"},
        "data": {"token": base64.b64encode(TOKEN.encode()).decode()},
    }  # fmt: skip
    kube.create(SECRETS, namespace, secret)
    monitoring = {"capture": {"sampleRate": 1.0, "flushSeconds": 1},
                  "feedback": {"tokenSecret": "iris-feedback"},
                  "labels": {"files": [{"uri": label_file_url, "idColumn": "prediction_id",
                                        "labelColumn": "species"}]}}  # fmt: skip
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
    picked = picked_rows()
    (ip,) = production_pod_ips(kube, namespace, "iris")
    body = {
        "id": REQUEST_ID,
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
        assert ids == [f"{REQUEST_ID}/{row}" for row in range(ROWS)]  # what the file names
        truth = [int(y[i]) for i in picked[:LABELLED]]
        truth[:WRONG] = [(t + 1) % 3 for t in truth[:WRONG]]
        labels = [{"id": i, "label": t} for i, t in zip(ids, truth, strict=False)]
        sent = client.post(f"{base}/feedback", json={"labels": labels},
                           headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
        assert sent.status_code == 200 and sent.json()["accepted"] == LABELLED, sent.text
    truth += [int(y[i]) for i in picked[LABELLED:]]  # the label file's rows
    correct = sum(int(p) == t for p, t in zip(predicted, truth, strict=True))

    # Segments are flushed every second: ask for an evaluation once production's captures and
    # the labels are in the store (the test stage's captures of the acceptance Job's requests
    # are there long before; a busy machine can flush production's seconds later).
    store = open_segment_store(default_store_uri(dev_cluster.catalog_uri, namespace, "iris"))
    wait_for(lambda: production_captures(store) >= ROWS and store.names("labels"),
             what=f"{ROWS} production captures and the labels in the registry",
             timeout=60)  # fmt: skip
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
    low, high = wilson(correct, ROWS)
    assert production["role"] == "production" and production["version"] == 1
    assert (production["captured"], production["labelled"]) == (ROWS, ROWS)
    assert production["value"] == pytest.approx(correct / ROWS)
    assert (production["low"], production["high"]) == (pytest.approx(low), pytest.approx(high))
    assert production["method"] == "wilson" and production["coverage"] == pytest.approx(1.0)
    assert production["offline"] is not None and production["offline"] > 0.8
    assert performance["live"].startswith(f"accuracy={correct / ROWS:.3f} [")
    assert performance["requested"] == "1" and performance["runs"] == 1
    (from_file,) = performance["labelFiles"]
    assert (from_file["uri"], from_file["outcome"]) == (label_file_url, "ingested"), from_file
    assert (from_file["rows"], from_file["accepted"]) == (ROWS - LABELLED + 2, ROWS - LABELLED + 1)
    assert from_file["refused"] == {"malformed_label": 1} and performance["orphanLabels"] == 1
    print(f"live accuracy {correct}/{ROWS} = {production['value']:.3f} "
          f"[{production['low']:.3f}, {production['high']:.3f}], "
          f"offline {production['offline']:.3f}; label file {from_file}")  # fmt: skip
    wait_for(lambda: kube.list(JOBS, namespace, {"modelship.io/stage": "evaluation"}) == [],
             what="the finished evaluation Job deleted", timeout=60)  # fmt: skip

    # Again: the file is read and found unchanged; its labels are not stored a second time.
    stored = len(store.names("labels"))
    kube.patch(MODEL_DEPLOYMENTS, namespace, "iris",
               {"metadata": {"annotations": {EVALUATE_ANNOTATION: "2"}}})  # fmt: skip
    status = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris",
        lambda s: (s.get("performance") or {}).get("requested") == "2"
        and not (s.get("performance") or {}).get("job"),
        240,
    )  # fmt: skip
    again = status["performance"]
    assert again["labelFiles"][0]["outcome"] == "unchanged", again
    assert again["versions"][0]["labelled"] == ROWS and len(store.names("labels")) == stored
