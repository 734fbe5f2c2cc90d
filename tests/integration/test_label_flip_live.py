"""A concept change, live on the local cluster: the inputs keep their distribution, the labels flip.

breast_cancer serves in production with capture at 100 % on the volume catalog (the default
backend: the serving pod mounts the catalog read-only and only its model's capture store
writable; the evaluation Job and the trainer read that store through the catalog). Production rows
are drawn from the dataset itself, so the inputs are distributed as the training data was and the
input PSI the operator reads from the pods stays under the drift threshold: drift retrains
nothing. Their labels, posted to the feedback route, follow a new concept: flipped where
`mean radius` is above its median. An evaluation (the `evaluation.modelship.io/requested`
annotation) measures production's live accuracy near one half, its Wilson interval wholly below
the offline accuracy; `spec.retraining.performance` then starts one TrainingJob with trigger
`performance`. It trains with the labelled production rows (`spec.dataset.production`, weight
10), holding the newest ones (a second batch, answered seconds after the first) out, and its
`live accuracy` gate shows the candidate beating production on them. The new version reaches
AwaitingApproval. More labels, evaluated again inside the cooldown, still decay the live
accuracy, and the retraining is deferred (Cooldown): one performance TrainingJob in all.

No offline gate on the Model and no accuracy threshold in the test stage's acceptance, and this is
why: a candidate that learns the new labelling gets worse on the dataset's own held-out rows, which
keep the old one (here offline accuracy 0.965 -> 0.55, while on the held-out production rows the
candidate scores 0.77 against production's 0.45). Those offline figures measure the old concept;
the live gate on the newest labelled production rows is the one that says whether the candidate
is better, and an offline gate or acceptance threshold would stop every correct candidate of a
concept change before AwaitingApproval.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from modelship.api.v1alpha1 import EVALUATE_ANNOTATION
from modelship.catalog import open_catalog
from modelship.catalog.segments import default_store_uri, open_segment_store, segments
from modelship.monitoring.intervals import wilson
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import (
    MODEL_DEPLOYMENTS,
    MODELS,
    SECRETS,
    TRAINING_JOBS,
)
from support.factories import API_VERSION
from support.live import (
    SERVING_PORT,
    approve,
    awaiting_approval,
    catalog_dir,
    production_pod_ips,
    status_of,
    wait_for_status,
)
from support.operator import OperatorProcess, running_operator
from support.waiting import wait_for

pytestmark = pytest.mark.integration

NAME = "cancer"
TOKEN = "label-flip-token"
THRESHOLD = 0.2  # input drift (mean PSI over features)
TRAIN_ROWS = 200  # the first batch: trained on
HOLDOUT_ROWS = 60  # the second, newest batch: held out for the live gate
MORE_ROWS = 40  # labelled after the retraining, inside its cooldown
HOLDOUT_SECONDS = 3  # the batches are answered more than this apart
MIN_LABELS = 100
DROP_BY = 0.15


def cancer_model() -> dict[str, Any]:
    monitoring = {"capture": {"sampleRate": 1.0, "flushSeconds": 1},
                  "feedback": {"tokenSecret": f"{NAME}-feedback"}}  # fmt: skip
    production = {"windowSeconds": 3600, "weight": 10, "holdoutSeconds": HOLDOUT_SECONDS,
                  "minHoldoutRows": HOLDOUT_ROWS // 2}  # fmt: skip
    return {
        "apiVersion": API_VERSION,
        "kind": "Model",
        "metadata": {"name": NAME},
        "spec": {
            "task": "classification",
            "dataset": {"uri": "builtin:breast_cancer", "production": production},
            "algorithm": {"name": "random_forest", "params": {"n_estimators": 30}},
            "evaluation": {"testFraction": 0.25, "seed": 7},  # no gate: see the docstring
            "monitoring": monitoring,
            "retraining": {
                "onSpecChange": True,
                "cooldownSeconds": 3600,
                "drift": {"threshold": THRESHOLD, "minRows": 100},
                "performance": {"dropBy": DROP_BY, "minLabels": MIN_LABELS},
            },
        },
    }


def cancer_deployment() -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Deployment",
        "metadata": {"name": NAME},
        "spec": {
            "modelRef": {"name": NAME},
            # latency only: the acceptance set keeps the old labelling (see the docstring)
            "test": {"replicas": 1, "acceptance": {"maxLatencyMs": 2000}},
            "production": {"replicas": 1},
        },
    }


class Traffic:
    """Production rows drawn from the dataset (no row twice), labelled by the new concept."""

    def __init__(self, ip: str) -> None:
        bunch = load_breast_cancer()
        self.x = bunch.data
        radius = bunch.data[:, 0]
        self.flipped = np.where(radius > np.median(radius), 1 - bunch.target, bunch.target)
        total = TRAIN_ROWS + HOLDOUT_ROWS + MORE_ROWS
        self.order = np.random.default_rng(5).choice(len(bunch.target), total, replace=False)
        self.base = f"http://{ip}:{SERVING_PORT}/v2/models/{NAME}"
        self.sent = 0
        self.correct = 0  # production's answers that the new labels call right

    def batch(self, rows: int, request_id: str) -> None:
        """Predict `rows` more rows in one request, then post their new labels."""
        picked = self.order[self.sent : self.sent + rows]
        self.sent += rows
        body = {
            "id": request_id,
            "inputs": [{"name": "input", "datatype": "FP64", "shape": [rows, 30],
                        "data": self.x[picked].ravel().tolist()}],
            "outputs": [{"name": "predict"}, {"name": "modelship_id"}],
        }  # fmt: skip
        with httpx.Client(timeout=30) as client:
            answer = client.post(f"{self.base}/infer", json=body)
            assert answer.status_code == 200, answer.text
            outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
            truth = [int(t) for t in self.flipped[picked]]
            self.correct += sum(int(p) == t for p, t in zip(outputs["predict"], truth, strict=True))
            labels = [{"id": i, "label": t}
                      for i, t in zip(outputs["modelship_id"], truth, strict=True)]  # fmt: skip
            sent = client.post(f"{self.base}/feedback", json={"labels": labels},
                               headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
            assert sent.status_code == 200 and sent.json()["accepted"] == rows, sent.text


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator as a local process on the namespace's catalog volume, drift read from the
    pods every 2 seconds."""
    yield from running_operator(
        cluster_kubeconfig,
        tmp_path_factory,
        rollout_deadline_seconds="300",
        drift_interval_seconds="2",
        drift_access="pod",
    )


def performance_jobs(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    return [t for t in kube.list(TRAINING_JOBS, namespace)
            if t["spec"].get("trigger") == "performance"]  # fmt: skip


def evaluate(kube: Kube, namespace: str, value: str, describe: Any) -> dict[str, Any]:
    """Ask for an evaluation; status.performance once it is recorded and its Job gone."""
    kube.patch(MODEL_DEPLOYMENTS, namespace, NAME,
               {"metadata": {"annotations": {EVALUATE_ANNOTATION: value}}})  # fmt: skip
    status = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, NAME,
        lambda s: (s.get("performance") or {}).get("requested") == value
        and bool((s.get("performance") or {}).get("evaluatedAt") or s["performance"].get("error"))
        and not s["performance"].get("job"),
        240, what=f"evaluation {value}", describe=describe,
    )  # fmt: skip
    performance: dict[str, Any] = status["performance"]
    assert performance.get("error") is None, performance
    return performance


def captured_rows(store: Any) -> int:
    return sum(
        sum(1 for r in records if r.get("stage") == "production")
        for _, records in segments(store, "captures")
    )


@pytest.mark.timeout(900)
def test_flipped_labels_retrain_once_and_the_candidate_beats_production_live(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    started = time.monotonic()
    catalog = catalog_dir(kube, namespace)  # the claim's directory on this machine
    secret = {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{NAME}-feedback"},
        "data": {"token": base64.b64encode(TOKEN.encode()).decode()},
    }  # fmt: skip
    kube.create(SECRETS, namespace, secret)
    kube.create(MODELS, namespace, cancer_model())
    kube.create(MODEL_DEPLOYMENTS, namespace, cancer_deployment())
    wait_for_status(kube, MODEL_DEPLOYMENTS, namespace, NAME, awaiting_approval(1), 420,
                    describe=operator.tail)  # fmt: skip
    approve(kube, namespace, NAME)
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, NAME,
        lambda s: s.get("phase") == "Serving" and (s.get("production") or {}).get("readyReplicas"),
        300, describe=operator.tail,
    )  # fmt: skip
    (ip,) = production_pod_ips(kube, namespace, NAME)
    traffic = Traffic(ip)

    # Two batches answered more than holdoutSeconds apart: the second is the newest window.
    traffic.batch(TRAIN_ROWS, "flip-a")
    first = time.monotonic()
    time.sleep(max(0.0, first + HOLDOUT_SECONDS + 1.5 - time.monotonic()))
    traffic.batch(HOLDOUT_ROWS, "flip-b")
    labelled = TRAIN_ROWS + HOLDOUT_ROWS

    # Inputs as the training data's: the PSI stays under the threshold, drift retrains nothing.
    drift = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, NAME,
        lambda s: (s.get("drift") or {}).get("rows", 0) >= labelled, 120,
        what=f"drift over {labelled} rows", describe=operator.tail,
    )["drift"]  # fmt: skip
    assert drift["version"] == 1 and drift["overall"] < THRESHOLD, drift
    wait_for(
        lambda: (status_of(kube, MODELS, namespace, NAME).get("retraining") or {}).get("drift"),
        timeout=60, what="the Model to judge the drift",
    )  # fmt: skip
    retraining = status_of(kube, MODELS, namespace, NAME)["retraining"]
    episode = retraining["drift"]
    assert not episode.get("open") and episode.get("episode", 0) == 0, retraining
    assert episode.get("psi") is None or episode["psi"] < THRESHOLD, retraining

    store = open_segment_store(default_store_uri(str(catalog), namespace, NAME))
    wait_for(lambda: captured_rows(store) >= labelled, timeout=60,
             what=f"{labelled} production captures in the capture store")  # fmt: skip
    performance = evaluate(kube, namespace, "1", operator.tail)
    (live,) = performance["versions"]
    correct = traffic.correct
    low, high = wilson(correct, labelled)
    assert (live["role"], live["version"], live["labelled"]) == ("production", 1, labelled), live
    assert live["value"] == pytest.approx(correct / labelled)
    assert (live["low"], live["high"]) == (pytest.approx(low), pytest.approx(high))
    offline = live["offline"]
    assert offline is not None and offline > 0.9, live
    # The concept changed: the whole interval lies below the offline accuracy, by dropBy too.
    assert live["high"] < offline - DROP_BY, live

    # One performance training, on the production labels; the newest batch is held out.
    (job,) = wait_for(lambda: performance_jobs(kube, namespace), timeout=120,
                      what="a TrainingJob with trigger performance",
                      describe=lambda: str(status_of(kube, MODELS, namespace, NAME)))  # fmt: skip
    assert f"live accuracy {live['value']:.3f}" in job["spec"]["reason"], job["spec"]
    mdep = wait_for_status(kube, MODEL_DEPLOYMENTS, namespace, NAME, awaiting_approval(2), 420,
                           describe=operator.tail)  # fmt: skip
    assert mdep["production"]["version"] == 1
    trained = (kube.get(TRAINING_JOBS, namespace, job["metadata"]["name"]) or {})["status"]
    assert trained["phase"] == "Succeeded" and trained["version"] == 2, trained
    used = trained["production"]
    assert (used["rows"], used["holdoutRows"], used["weight"]) == (TRAIN_ROWS, HOLDOUT_ROWS, 10.0)
    (gate,) = [g for g in trained["gates"] if g["metric"] == "live accuracy"]
    assert gate["passed"], gate
    match = re.match(r">= ([0-9.]+) \(production version 1 on (\d+) held-out", gate["bound"])
    assert match is not None and int(match[2]) == HOLDOUT_ROWS, gate
    champion = float(match[1])
    recorded = open_catalog(str(catalog)).get(namespace, NAME, 2).production
    assert recorded is not None and recorded.live_gate is not None
    assert recorded.live_gate.champion == pytest.approx(champion, abs=1e-3)
    # The candidate learnt the new labelling; production answers by the old one.
    assert gate["value"] > champion + 0.1 and champion < 0.75, gate
    # ... and so it is worse on the dataset's held-out rows, which keep the old labelling.
    retrained_offline = trained["metrics"]["accuracy"]
    assert retrained_offline < offline - 0.1, trained["metrics"]

    # More labels inside the cooldown: still a decay, with new labels, but held back.
    traffic.batch(MORE_ROWS, "flip-c")
    labelled += MORE_ROWS
    wait_for(lambda: captured_rows(store) >= labelled, timeout=60,
             what=f"{labelled} production captures in the capture store")  # fmt: skip
    again = evaluate(kube, namespace, "2", operator.tail)
    (live_again,) = again["versions"]
    assert (live_again["version"], live_again["labelled"]) == (1, labelled), live_again
    assert live_again["high"] < offline - DROP_BY, live_again
    retraining = wait_for_status(
        kube, MODELS, namespace, NAME,
        lambda s: (s.get("retraining") or {}).get("reason") == "Cooldown",
        60, what="the decay held back by the cooldown",
    )["retraining"]  # fmt: skip
    assert (retraining["decision"], retraining["trigger"]) == ("Deferred", "performance")
    assert f"over {labelled} labels" in retraining["message"], retraining
    assert len(performance_jobs(kube, namespace)) == 1
    recent = [(r["trigger"], r["trainingJob"]) for r in retraining.get("recent", [])]
    assert recent == [("performance", job["metadata"]["name"])], retraining
    assert [t for t in kube.list(TRAINING_JOBS, namespace)
            if t["spec"].get("trigger") == "drift"] == []  # fmt: skip
    print(
        f"\nlive accuracy {correct}/{TRAIN_ROWS + HOLDOUT_ROWS} = {live['value']:.3f} "
        f"[{live['low']:.3f}, {live['high']:.3f}], offline {offline:.3f}; PSI mean "
        f"{drift['overall']:.3f} max {drift['max']:.3f} over {drift['rows']} rows; live gate "
        f"candidate {gate['value']:.3f} vs production {champion:.3f} on {HOLDOUT_ROWS} rows "
        f"(offline {retrained_offline:.3f}); "
        f"after {MORE_ROWS} more: {live_again['value']:.3f} [{live_again['low']:.3f}, "
        f"{live_again['high']:.3f}], {retraining['reason']}; {time.monotonic() - started:.0f} s"
    )
