"""XGBoost and LightGBM versions served over the Open Inference Protocol (REST, in process).

The answers are the library's own estimator's on the same rows (labels and probabilities, JSON
round trip included); a version written by a newer library leaves the server not ready, saying
why, and it predicts nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from modelship.catalog import (
    AcceptanceSet,
    AlgorithmInfo,
    DatasetInfo,
    FeatureInfo,
    FeatureProfile,
    Profile,
    StagedVersion,
    TargetInfo,
    VersionMetadata,
    open_catalog,
)
from modelship.serving import ServingSettings, create_app
from modelship.training import algorithms

NAMES = ["tenure", "charges", "age", "visits"]
NAMESPACE = "ml"


def rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, len(NAMES)))


def publish(root: Path, framework: str, task: Any) -> tuple[VersionMetadata, Any]:
    """Train by the trainer's path on rows with missing cells; publish; return the estimator."""
    x = rows(300, 0)
    x[np.random.default_rng(1).random(x.shape) < 0.1] = np.nan
    score = np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 1])
    if task == "classification":
        y: Any = np.array(["high", "low", "mid"])[np.digitize(score, [-0.5, 0.5])]
        classes = np.unique(y).tolist()
    else:
        y, classes = score, None
    built = algorithms.build_estimator(framework, {"n_estimators": 20}, task, seed=0)
    model = algorithms.fit(built, x, y, framework, classes)
    clean = rows(30, 2)
    staged = StagedVersion(
        model=model,
        task=task,
        algorithm=AlgorithmInfo(name=framework, params=built.params),
        dataset=DatasetInfo(uri="builtin:churn", digest="sha256:" + "0" * 64, rows=len(x)),
        features=[FeatureInfo(name=n) for n in NAMES],
        target=TargetInfo(name="y", classes=classes),
        acceptance=AcceptanceSet(
            features=NAMES,
            inputs=clean.tolist(),
            targets=model.predict(clean).tolist(),
        ),
        profile=Profile(
            features=[
                FeatureProfile(name=n, edges=[-5.0, 0.0, 5.0], frequencies=[0.5, 0.5])
                for n in NAMES
            ]
        ),
    )
    return open_catalog(str(root)).publish(NAMESPACE, framework, staged), built.estimator


def settings(root: Path, metadata: VersionMetadata) -> ServingSettings:
    return ServingSettings(
        model_name=metadata.model,
        namespace=NAMESPACE,
        version=metadata.version,
        catalog_root=str(root),
        expected_digest=metadata.digest,
        stage="test",
    )


def infer(client: TestClient, model: str, x: np.ndarray, outputs: list[str]) -> dict[str, Any]:
    body = {
        "inputs": [
            {"name": "input", "datatype": "FP64", "shape": list(x.shape), "data": x.tolist()}
        ],
        "outputs": [{"name": name} for name in outputs],
    }
    response = client.post(f"/v2/models/{model}/infer", json=body)
    assert response.status_code == 200, response.text
    return {
        o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in response.json()["outputs"]
    }


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_a_classifier_answers_what_the_library_predicts(framework: str, tmp_path: Path) -> None:
    metadata, estimator = publish(tmp_path, framework, "classification")
    x = rows(40, 3)

    with TestClient(create_app(settings(tmp_path, metadata), registry=CollectorRegistry())) as c:
        served = infer(c, framework, x, ["predict", "predict_proba"])
        model_metadata = c.get(f"/v2/models/{framework}").json()

    assert model_metadata["parameters"]["engine"] == framework
    expected = np.asarray(estimator.predict_proba(x), dtype=np.float64)
    # JSON carries float64 exactly (shortest repr round-trips): the same numbers.
    assert np.array_equal(served["predict_proba"], expected)
    labels = np.array(["high", "low", "mid"])[expected.argmax(axis=1)]
    assert served["predict"].tolist() == labels.tolist()


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_a_regressor_answers_what_the_library_predicts(framework: str, tmp_path: Path) -> None:
    metadata, estimator = publish(tmp_path, framework, "regression")
    x = rows(40, 4)

    with TestClient(create_app(settings(tmp_path, metadata), registry=CollectorRegistry())) as c:
        served = infer(c, framework, x, ["predict"])

    assert np.array_equal(served["predict"], estimator.predict(x).astype(np.float64))


def test_a_version_from_a_newer_library_leaves_the_server_not_ready(tmp_path: Path) -> None:
    metadata, _ = publish(tmp_path, "lightgbm", "classification")
    # metadata.json as a newer trainer would have written it (the model bytes are unchanged).
    path = tmp_path / NAMESPACE / "lightgbm" / "1" / "metadata.json"
    document = json.loads(path.read_text())
    document["framework"]["version"] = "99.0.0"
    path.chmod(0o644)
    path.write_text(json.dumps(document))

    with TestClient(create_app(settings(tmp_path, metadata), registry=CollectorRegistry())) as c:
        ready = c.get("/v2/health/ready")
        response = c.post(
            "/v2/models/lightgbm/infer",
            json={"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 4],
                              "data": [[0.0, 0.0, 0.0, 0.0]]}]},
        )  # fmt: skip

    assert ready.status_code == response.status_code == 503
    assert "written by lightgbm 99.0.0, newer than the 4." in ready.json()["reason"]
