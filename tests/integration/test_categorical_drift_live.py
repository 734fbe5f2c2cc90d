"""Categorical drift on the local cluster: a shift in category frequencies retrains the Model.

The churn Model (typed features: numbers with gaps, categories with a missing bin) serves in
production; typed traffic drawn like the training data leaves it alone; traffic from the
`--drifted` generator, where the mix of cities is turned around (no value the model has not
seen, no column out of range), raises the PSI over the city's category frequencies past the
threshold, and one `drift` TrainingJob trains the next version.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS, TRAINING_JOBS
from modelship.training import synthetic
from support.factories import API_VERSION
from support.live import (
    SERVING_PORT,
    approve,
    awaiting_approval,
    production_pod_ips,
    status_of,
    wait_for_status,
)
from support.operator import OperatorProcess, running_operator
from support.waiting import wait_for

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).parents[2] / "manifests" / "samples" / "model-churn.yaml"
NUMERIC = ("age", "income", "tenure")
CATEGORICAL = ("city", "plan", "has_card")
THRESHOLD = 0.25


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator as a local process reading drift every 2 seconds from the pods' addresses."""
    yield from running_operator(
        cluster_kubeconfig,
        tmp_path_factory,
        rollout_deadline_seconds="120",
        drift_interval_seconds="2",
        drift_access="pod",
    )


def churn_model() -> dict[str, Any]:
    """The shipped sample, smaller, judged on its worst feature's PSI."""
    body: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    body["spec"]["algorithm"]["params"] = {"max_iter": 40}
    body["spec"]["training"] = {"timeoutSeconds": 600, "maxAttempts": 2}
    body["spec"]["retraining"] = {
        "onSpecChange": True,
        "drift": {"threshold": THRESHOLD, "aggregate": "max", "minRows": 200},
        "cooldownSeconds": 3600,
    }
    return body


DEPLOYMENT: dict[str, Any] = {
    "apiVersion": API_VERSION,
    "kind": "Deployment",
    "metadata": {"name": "churn"},
    "spec": {
        "modelRef": {"name": "churn"},
        "test": {"replicas": 1, "acceptance": {"minAccuracy": 0.6, "maxLatencyMs": 2000}},
        "production": {"replicas": 1},
    },
}


def send(ip: str, rows: int, seed: int, *, drifted: bool) -> None:
    """Predict rows of the generator on the pod, one JSON tensor per feature ("" cells sent as
    null), in requests of 500 rows (a request holds at most 1,000)."""
    table = synthetic.churn_table(rows, seed, drifted=drifted)
    with httpx.Client(timeout=30) as client:
        for start in range(0, rows, 500):
            inputs = []
            for name in (*NUMERIC, *CATEGORICAL):
                cells = table[name][start : start + 500].tolist()
                data = [None if c == "" else (float(c) if name in NUMERIC else c) for c in cells]
                datatype = "FP64" if name in NUMERIC else "BYTES"
                inputs.append(
                    {"name": name, "datatype": datatype, "shape": [len(data)], "data": data}
                )
            answer = client.post(
                f"http://{ip}:{SERVING_PORT}/v2/models/churn/infer", json={"inputs": inputs}
            )
            assert answer.status_code == 200, answer.text


def drift_jobs(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    return [t for t in kube.list(TRAINING_JOBS, namespace) if t["spec"].get("trigger") == "drift"]


def retraining(kube: Kube, namespace: str) -> dict[str, Any]:
    return dict(status_of(kube, MODELS, namespace, "churn").get("retraining") or {})


@pytest.mark.timeout(1500)
def test_shifted_category_frequencies_retrain_the_model(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    kube.create(MODELS, namespace, churn_model())
    kube.create(MODEL_DEPLOYMENTS, namespace, copy.deepcopy(DEPLOYMENT))
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "churn", awaiting_approval(1), 600,
        describe=operator.tail,
    )  # fmt: skip
    approve(kube, namespace, "churn")
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "churn",
        lambda s: s.get("phase") == "Serving" and s["production"].get("readyReplicas") == 1,
        300, describe=operator.tail,
    )  # fmt: skip
    (ip,) = production_pod_ips(kube, namespace, "churn")

    # traffic drawn like the training data: measured per feature, below the threshold
    send(ip, 600, 11, drifted=False)
    drift = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "churn",
        lambda s: (s.get("drift") or {}).get("rows", 0) >= 600, 120, what="drift over 600 rows",
    )["drift"]  # fmt: skip
    features = {f["name"]: f for f in drift["features"]}
    assert set(features) == {*NUMERIC, *CATEGORICAL}
    assert features["city"]["psi"] < THRESHOLD and drift["max"] < THRESHOLD, drift
    assert features["age"]["missingRate"] > 0, drift  # the generator leaves 5 % of ages empty
    assert "missingRate" not in features["city"]  # categorical: missing is one of its bins
    wait_for(
        lambda: retraining(kube, namespace).get("reason") == "BelowThreshold",
        timeout=60,
        what="the Model to judge the drift below threshold",
        describe=lambda: str(retraining(kube, namespace)),
    )
    assert drift_jobs(kube, namespace) == []

    # the city mix turned around: the categorical PSI crosses the threshold and retrains
    send(ip, 1500, 12, drifted=True)
    jobs = wait_for(
        lambda: drift_jobs(kube, namespace),
        timeout=120,
        what="a TrainingJob with trigger drift",
        describe=lambda: str(retraining(kube, namespace)),
    )
    assert len(jobs) == 1
    assert "worst:" in jobs[0]["spec"]["reason"] and "city" in jobs[0]["spec"]["reason"]
    drift = status_of(kube, MODEL_DEPLOYMENTS, namespace, "churn")["drift"]
    features = {f["name"]: f for f in drift["features"]}
    assert features["city"]["psi"] > THRESHOLD, drift
    assert max(features.values(), key=lambda f: f["psi"] or 0.0)["name"] == "city", drift

    # the drift version trains and is tested while production keeps version 1
    mdep = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "churn", awaiting_approval(2), 600,
        describe=operator.tail,
    )  # fmt: skip
    trained = kube.get(TRAINING_JOBS, namespace, jobs[0]["metadata"]["name"]) or {}
    assert trained["status"]["phase"] == "Succeeded" and trained["status"]["version"] == 2
    assert mdep["production"]["version"] == 1
    assert len(drift_jobs(kube, namespace)) == 1
