"""The inference server over HTTP, against real models published into a temporary catalog."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelship.catalog import VersionMetadata, open_catalog
from modelship.serving import ServingSettings, create_app
from support.serving import IRIS_FEATURES, NAMESPACE, publish


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("catalog")
    iris_x, iris_y = load_iris(return_X_y=True)
    diabetes_x, diabetes_y = load_diabetes(return_X_y=True)
    return {
        "root": root,
        "iris_x": iris_x,
        "iris": publish(
            root, "iris", LogisticRegression(max_iter=1000), iris_x, iris_y, IRIS_FEATURES
        ),
        "forest": publish(
            root,
            "forest",
            RandomForestClassifier(20, random_state=0),
            iris_x,
            iris_y,
            IRIS_FEATURES,
        ),
        "scaled": publish(
            root,
            "scaled",
            make_pipeline(StandardScaler(), LogisticRegression()),
            iris_x,
            iris_y == 0,
            IRIS_FEATURES,
        ),
        "diabetes": publish(
            root,
            "diabetes",
            LinearRegression(),
            diabetes_x,
            diabetes_y,
            [f"x{i}" for i in range(diabetes_x.shape[1])],
        ),
    }


def settings_for(catalog: dict[str, Any], model: str = "iris", **overrides: Any) -> ServingSettings:
    metadata: VersionMetadata = catalog[model]
    values: dict[str, Any] = {
        "model_name": model,
        "namespace": NAMESPACE,
        "version": metadata.version,
        "catalog_root": str(catalog["root"]),
        "expected_digest": metadata.digest,
        "stage": "test",
    }
    values.update(overrides)
    return ServingSettings(**values)


@pytest.fixture
def make_client(catalog: dict[str, Any]) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(model: str = "iris", **overrides: Any) -> TestClient:
        app = create_app(settings_for(catalog, model, **overrides), registry=CollectorRegistry())
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Any) -> TestClient:
    return make_client()


def infer_body(rows: list[list[float]], **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "input", "datatype": "FP64", "shape": [len(rows), len(rows[0])], "data": rows}
        ],
        **extra,
    }


def metric(client: TestClient, name: str, **labels: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            head = line.split(" ")[0]
            if head == name or head.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"metric {name} {labels} not exported")


# --- health and metadata ---------------------------------------------------------------


def test_health_and_server_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json()["name"] == "modelship"


def test_model_metadata_names_version_digest_and_tensors(
    client: TestClient, catalog: dict[str, Any]
) -> None:
    iris: VersionMetadata = catalog["iris"]

    document = client.get("/v2/models/iris").json()

    assert document["name"] == "iris"
    assert document["versions"] == [str(iris.version)]
    assert document["platform"] == "sklearn"
    assert [i["name"] for i in document["inputs"]] == IRIS_FEATURES
    assert {o["name"]: o["datatype"] for o in document["outputs"]} == {
        "predict": "INT64",
        "predict_proba": "FP64",
    }
    assert document["parameters"]["digest"] == iris.digest
    assert document["parameters"]["version"] == iris.version
    assert document["parameters"]["stage"] == "test"
    assert document["parameters"]["classes"] == [0, 1, 2]
    assert document["parameters"]["engine"] == "numpy"  # validated once, by us
    assert client.get(f"/v2/models/iris/versions/{iris.version}").json() == document


def test_model_ready_routes(client: TestClient, catalog: dict[str, Any]) -> None:
    version = catalog["iris"].version
    assert client.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    assert client.get(f"/v2/models/iris/versions/{version}/ready").status_code == 200
    assert client.get("/v1/models/iris").json() == {"name": "iris", "ready": True}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/models/other"),
        ("GET", "/v2/models/other/ready"),
        ("GET", "/v2/models/iris/versions/999"),
        ("GET", "/v2/models/iris/versions/999/ready"),
        ("POST", "/v2/models/other/infer"),
        ("POST", "/v2/models/iris/versions/999/infer"),
        ("POST", "/v1/models/other:predict"),
        ("GET", "/v2/models/other/drift"),
        ("GET", "/nowhere"),
    ],
)
def test_other_models_and_versions_are_not_found(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path, json=infer_body([[5.1, 3.5, 1.4, 0.2]]))
    assert response.status_code == 404
    assert set(response.json()) == {"error"}


# --- inference ---------------------------------------------------------------------------


def test_infer_with_one_batch_tensor(client: TestClient, catalog: dict[str, Any]) -> None:
    rows = catalog["iris_x"][[0, 60, 120]].tolist()

    response = client.post("/v2/models/iris/infer", json=infer_body(rows, id="req-1"))

    assert response.status_code == 200
    document = response.json()
    assert document["model_name"] == "iris"
    assert document["model_version"] == str(catalog["iris"].version)
    assert document["id"] == "req-1"
    assert document["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [3], "data": [0, 1, 2]}
    ]


def test_infer_with_one_tensor_per_feature(client: TestClient) -> None:
    columns = {"sepal_length": [5.1, 6.7], "sepal_width": [3.5, 3.0], "petal_length": [1.4, 5.2]}
    columns["petal_width"] = [0.2, 2.3]
    body = {
        "inputs": [
            {"name": name, "datatype": "FP32", "shape": [2], "data": values}
            for name, values in reversed(columns.items())  # order must not matter
        ]
    }

    response = client.post("/v2/models/iris/versions/1/infer", json=body)

    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == [0, 2]


def test_infer_accepts_int64_and_bytes_tensors(client: TestClient) -> None:
    ints = {"inputs": [{"name": "x", "datatype": "INT64", "shape": [1, 4], "data": [5, 3, 1, 0]}]}
    text = {
        "inputs": [
            {
                "name": "x",
                "datatype": "BYTES",
                "shape": [1, 4],
                "data": ["5.1", "3.5", "1.4", "0.2"],
            }
        ]
    }
    assert client.post("/v2/models/iris/infer", json=ints).json()["outputs"][0]["data"] == [0]
    assert client.post("/v2/models/iris/infer", json=text).json()["outputs"][0]["data"] == [0]


def test_predict_proba_when_asked(client: TestClient, catalog: dict[str, Any]) -> None:
    rows = catalog["iris_x"][[0, 120]].tolist()
    body = infer_body(rows, outputs=[{"name": "predict"}, {"name": "predict_proba"}])

    outputs = client.post("/v2/models/iris/infer", json=body).json()["outputs"]

    assert [o["name"] for o in outputs] == ["predict", "predict_proba"]
    proba = np.asarray(outputs[1]["data"]).reshape(outputs[1]["shape"])
    assert outputs[1]["shape"] == [2, 3]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba.argmax(axis=1).tolist() == outputs[0]["data"] == [0, 2]


def test_v1_predict_with_rows_and_objects(client: TestClient) -> None:
    rows = {"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}
    objects = {"instances": [dict(zip(IRIS_FEATURES, [6.7, 3.0, 5.2, 2.3], strict=True))]}
    assert client.post("/v1/models/iris:predict", json=rows).json() == {"predictions": [0, 2]}
    assert client.post("/v1/models/iris:predict", json=objects).json() == {"predictions": [2]}


def test_served_predictions_equal_scikit_learn(make_client: Any, catalog: dict[str, Any]) -> None:
    """Every engine (compiled numpy for linear models, batched scikit-learn for the forest)."""
    rows = catalog["iris_x"]
    for model in ("iris", "scaled", "forest", "diabetes"):
        metadata: VersionMetadata = catalog[model]
        estimator = (
            open_catalog(str(catalog["root"]))
            .open_verified(NAMESPACE, model, metadata.version)
            .load_model()
        )
        x = rows if model != "diabetes" else load_diabetes(return_X_y=True)[0]
        client = make_client(model, batching={"mode": "on" if model == "forest" else "auto"})

        served = client.post(f"/v1/models/{model}:predict", json={"instances": x.tolist()}).json()

        expected = estimator.predict(x)
        if model == "diabetes":
            np.testing.assert_allclose(served["predictions"], expected, rtol=1e-9)
        else:
            assert served["predictions"] == expected.tolist()


# --- bad input: always a 4xx with a message -----------------------------------------------


def tensor(shape: list[int], data: Any, datatype: str = "FP64") -> dict[str, Any]:
    return {"inputs": [{"name": "input", "datatype": datatype, "shape": shape, "data": data}]}


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (tensor([1, 3], [1.0, 2.0, 3.0]), 400, "expects [n, 4]"),
        (tensor([2, 4], [1.0, 2.0, 3.0, 4.0]), 400, "carries 4"),
        (tensor([1, 4], [[1.0, 2.0], [3.0]]), 400, "rectangular"),
        (tensor([1, 4], ["a", "b", "c", "d"]), 400, "must be numbers"),
        (tensor([1, 4], [1.5, 2.0, 3.0, 4.0], "INT64"), 400, "must be integers"),
        (tensor([1, 4], [True, False, True, False]), 400, "booleans"),
        (tensor([1, 4], [1, 2, 3, 4], "BF16"), 400, "supported: FP16, FP32, FP64, INT8"),
        (tensor([1, 4], [1, 2, -3, 4], "UINT8"), 400, "must lie in [0, 255], found -3"),
        (tensor([1, 4], [1, 2, 300, 4], "INT8"), 400, "must lie in [-128, 127], found 300"),
        (tensor([1, 4], [1, 0, 1, 0], "BOOL"), 400, "must be booleans"),
        (tensor([1, 4], ["x", "1", "2", "3"], "BYTES"), 400, "numbers as text, not 'x'"),
        (tensor([1, 4], [1.0, None, 3.0, 4.0]), 400, "mixed values"),
        (tensor([1001, 4], [1.0] * 4004), 400, "limit is 1000"),
        (tensor([0, 4], []), 400, "no rows"),
        ({"inputs": []}, 400, "non-empty list"),
        (
            {"inputs": [{"name": "sepal_length", "datatype": "FP64", "shape": [1], "data": [1]}]},
            400,
            "missing features",
        ),
        (
            tensor([1, 4], [5.1, 3.5, 1.4, 0.2]) | {"outputs": [{"name": "explain"}]},
            400,
            "unknown outputs",
        ),
        ([1, 2, 3], 400, "JSON object"),
    ],
)
def test_bad_infer_requests_are_refused_with_a_reason(
    client: TestClient, body: Any, status: int, fragment: str
) -> None:
    response = client.post("/v2/models/iris/infer", json=body)
    assert response.status_code == status
    assert fragment in response.json()["error"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_values_are_refused(client: TestClient, literal: str) -> None:
    raw = '{"inputs":[{"name":"input","datatype":"FP64","shape":[1,4],"data":[5.1,%s,1.4,0.2]}]}'
    response = client.post("/v2/models/iris/infer", content=raw % literal)
    assert response.status_code == 400
    assert response.json() == {"error": "non-finite values (NaN or infinity) in: sepal_width"}
    bytes_nan = tensor([1, 4], ["5.1", "nan", "1.4", "0.2"], "BYTES")
    assert client.post("/v2/models/iris/infer", json=bytes_nan).status_code == 400


@pytest.mark.parametrize("body", [b"", b"{", b'{"inputs": [', b"\xff\xfe", b"null"])
def test_malformed_json_is_refused(client: TestClient, body: bytes) -> None:
    for path in ("/v2/models/iris/infer", "/v1/models/iris:predict"):
        response = client.post(path, content=body)
        assert response.status_code == 400
        assert "error" in response.json()


def test_bad_v1_requests_are_refused(client: TestClient) -> None:
    for body in ({"instances": [[1.0, 2.0]]}, {"instances": [{"sepal_length": 1}]}, {"rows": []}):
        response = client.post("/v1/models/iris:predict", json=body)
        assert response.status_code == 400, body
        assert "error" in response.json()


def test_oversized_bodies_are_refused_before_reading(make_client: Any) -> None:
    client = make_client(limits={"max_body_bytes": 2048})
    big = json.dumps(tensor([200, 4], [1.0] * 800)).encode()
    assert len(big) > 2048

    declared = client.post("/v2/models/iris/infer", content=big)
    chunks = (big[i : i + 512] for i in range(0, len(big), 512))
    streamed = client.post("/v2/models/iris/infer", content=chunks)  # chunked: no length

    assert declared.status_code == streamed.status_code == 413
    assert "exceeds 2048 bytes" in declared.json()["error"]


def test_rows_limit_is_configurable(make_client: Any) -> None:
    client = make_client(limits={"max_rows": 2})
    response = client.post("/v1/models/iris:predict", json={"instances": [[1, 2, 3, 4]] * 3})
    assert response.status_code == 400
    assert "limit of 2 rows" in response.json()["error"]


def test_wrong_methods_get_json_errors(client: TestClient) -> None:
    response = client.get("/v2/models/iris/infer")
    assert response.status_code == 405
    assert "error" in response.json()


# --- verification -------------------------------------------------------------------------


def test_tampered_artifact_keeps_server_not_ready_with_the_reason(
    tmp_path: Path, catalog: dict[str, Any]
) -> None:
    x, y = catalog["iris_x"], load_iris(return_X_y=True)[1]
    metadata = publish(tmp_path, "iris", LogisticRegression(max_iter=1000), x, y, IRIS_FEATURES)
    artifact = tmp_path / NAMESPACE / "iris" / str(metadata.version) / "model.skops"
    os.chmod(artifact, 0o644)
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    settings = ServingSettings(
        model_name="iris",
        namespace=NAMESPACE,
        version=metadata.version,
        catalog_root=str(tmp_path),
        expected_digest=metadata.digest,
    )

    with TestClient(create_app(settings, registry=CollectorRegistry())) as client:
        ready = client.get("/v2/health/ready")
        model_ready = client.get("/v2/models/iris/ready")
        infer = client.post("/v2/models/iris/infer", json=infer_body([[5.1, 3.5, 1.4, 0.2]]))
        live = client.get("/v2/health/live")
        gauge = metric(client, "modelship_model_ready")

    assert ready.status_code == model_ready.status_code == infer.status_code == 503
    assert ready.json()["ready"] is False
    assert "model.skops" in ready.json()["reason"]
    assert "does not match its published digest" in model_ready.json()["reason"]
    assert "not ready" in infer.json()["error"]
    assert live.status_code == 200
    assert gauge == 0


def test_unexpected_digest_keeps_server_not_ready(make_client: Any) -> None:
    client = make_client(expected_digest="sha256:" + "1" * 64)
    response = client.get("/v2/health/ready")
    assert response.status_code == 503
    assert response.json()["reason"]


def test_missing_version_keeps_server_not_ready(make_client: Any) -> None:
    client = make_client(version=42, expected_digest=None)
    assert "does not exist" in client.get("/v2/health/ready").json()["reason"]
    assert client.get("/v2/models/iris/versions/42/ready").status_code == 503


# --- metrics and drift ----------------------------------------------------------------------


def test_metrics_count_requests_rows_and_classes(
    client: TestClient, catalog: dict[str, Any]
) -> None:
    rows = catalog["iris_x"][[0, 1, 120]].tolist()
    client.post("/v2/models/iris/infer", json=infer_body(rows))
    client.post("/v2/models/iris/infer", json=infer_body(rows))
    client.post("/v2/models/iris/infer", json=tensor([1, 3], [1.0, 2.0, 3.0]))

    assert metric(client, "modelship_http_requests_total", route="infer", code="200") == 2
    assert metric(client, "modelship_http_requests_total", route="infer", code="400") == 1
    assert metric(client, "modelship_http_request_duration_seconds_count", route="infer") == 3
    assert metric(client, "modelship_inference_rows_total") == 6
    assert metric(client, "modelship_predictions_total", class_label="0") == 4
    assert metric(client, "modelship_predictions_total", class_label="2") == 2
    assert metric(client, "modelship_model_ready") == 1
    digest = catalog["iris"].digest
    assert metric(client, "modelship_model_info", model="iris", digest=digest, stage="test") == 1
    assert metric(client, "modelship_drift_window_rows") == 6
    text = client.get("/metrics").text
    assert 'modelship_drift_psi{feature="petal_length"}' in text
    assert "/v2/models" not in text  # routes are labelled by name, never by raw path


def test_regression_metrics_use_a_value_histogram(make_client: Any) -> None:
    client = make_client("diabetes")
    x = load_diabetes(return_X_y=True)[0][:5]
    client.post("/v1/models/diabetes:predict", json={"instances": x.tolist()})
    assert metric(client, "modelship_prediction_value_count") == 5
    assert "modelship_predictions_total" not in client.get("/metrics").text


def bootstrap(x: np.ndarray, rows: int, seed: int) -> np.ndarray:
    return x[np.random.default_rng(seed).integers(0, len(x), rows)]


def send_rows(client: TestClient, rows: np.ndarray, batch: int = 100) -> None:
    for start in range(0, len(rows), batch):
        response = client.post(
            "/v2/models/iris/infer", json=infer_body(rows[start : start + batch].tolist())
        )
        assert response.status_code == 200


def test_drift_stays_near_zero_for_the_training_distribution(
    client: TestClient, catalog: dict[str, Any]
) -> None:
    before = client.get("/v2/models/iris/drift").json()
    send_rows(client, bootstrap(catalog["iris_x"], 1000, seed=1))

    report = client.get("/v2/models/iris/drift").json()

    assert before["observed_rows"] == 0 and before["psi"] is None
    assert report["observed_rows"] == report["window_rows"] == 1000
    assert report["reference"] == {
        "version": catalog["iris"].version,
        "digest": catalog["iris"].digest,
    }
    assert report["psi"] < 0.05
    assert all(f["psi"] < 0.1 for f in report["features"])


def test_drift_rises_for_a_shifted_distribution(
    client: TestClient, catalog: dict[str, Any]
) -> None:
    x = catalog["iris_x"]
    shifted = bootstrap(x, 1000, seed=2)
    shifted[:, 2] += x[:, 2].std()  # petal length moves by one standard deviation

    send_rows(client, shifted)
    report = client.get("/v2/models/iris/drift").json()

    psi = {f["name"]: f["psi"] for f in report["features"]}
    assert psi["petal_length"] > 0.25
    assert psi["sepal_length"] < 0.1
    assert report["max_psi"] == psi["petal_length"]
    assert metric(client, "modelship_drift_psi", feature="petal_length") == pytest.approx(
        psi["petal_length"]
    )
    assert metric(client, "modelship_drift_psi_overall") == pytest.approx(report["psi"])


# --- settings -----------------------------------------------------------------------------


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSHIP_SERVING_MODEL_NAME", "iris")
    monkeypatch.setenv("MODELSHIP_SERVING_VERSION", "3")
    monkeypatch.setenv("MODELSHIP_SERVING_CATALOG_ROOT", "/catalog")
    monkeypatch.setenv("MODELSHIP_SERVING_STAGE", "production")
    monkeypatch.setenv("MODELSHIP_SERVING_LIMITS__MAX_ROWS", "5")
    monkeypatch.setenv("MODELSHIP_BIND_HOST", "127.0.0.7")

    settings = ServingSettings()

    assert (settings.version, settings.stage, settings.limits.max_rows) == (3, "production", 5)
    assert settings.listen_host == "127.0.0.7"


def test_host_is_used_when_the_node_announces_no_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELSHIP_BIND_HOST", raising=False)
    settings = ServingSettings(model_name="m", version=1, catalog_root="/c", host="127.0.0.1")
    assert settings.listen_host == "127.0.0.1"
