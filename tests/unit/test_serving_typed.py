"""Serving a version with typed features over REST: one tensor per feature, refusals named.

The versions are trained by the real trainer on the generated churn table (numbers with gaps,
categories with gaps and a `reject` vocabulary), served by the real app from the catalog, and
every prediction is compared with the stored estimator called in-process on the same rows.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from modelship.serving import ServingSettings, create_app
from support.serving import NAMESPACE
from support.typed import FEATURES, in_process, sample_rows, train_churn


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("typed-catalog")
    linear_features = [f for f in FEATURES if f != {"name": "age", "impute": "none"}]
    return {
        "root": root,
        "hgb": train_churn(root, "churn", "hist_gradient_boosting", FEATURES),
        "linear": train_churn(root, "churn-linear", "logistic_regression", linear_features),
        "numeric": train_churn(
            root, "churn-numeric", "logistic_regression", ["income", {"name": "tenure"}]
        ),
    }


def make_client(versions: dict[str, Any], key: str, model: str) -> TestClient:
    version = versions[key]
    settings = ServingSettings(
        model_name=model,
        namespace=NAMESPACE,
        version=version.metadata.version,
        catalog_root=str(versions["root"]),
        expected_digest=version.metadata.digest,
        stage="test",
        limits={"max_cell_bytes": 64},
    )
    return TestClient(
        create_app(settings, registry=CollectorRegistry()), raise_server_exceptions=False
    )


@pytest.fixture(scope="module")
def clients(versions: dict[str, Any]) -> Iterator[dict[str, TestClient]]:
    made = {}
    for key, model in (("hgb", "churn"), ("linear", "churn-linear")):
        made[key] = make_client(versions, key, model)
        made[key].__enter__()
    yield made
    for client in made.values():
        client.__exit__(None, None, None)


def tensors(rows: dict[str, list[Any]], **datatypes: str) -> list[dict[str, Any]]:
    categorical = {"city", "plan", "has_card"}
    return [
        {
            "name": name,
            "datatype": datatypes.get(name, "BYTES" if name in categorical else "FP64"),
            "shape": [len(values)],
            "data": values,
        }
        for name, values in rows.items()
    ]


def infer(client: TestClient, model: str, inputs: list[dict[str, Any]]) -> Any:
    body = {"inputs": inputs, "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}
    return client.post(f"/v2/models/{model}/infer", json=body)


@pytest.mark.parametrize(("key", "model"), [("hgb", "churn"), ("linear", "churn-linear")])
def test_rest_predictions_equal_the_estimator_in_process(
    clients: dict[str, TestClient], versions: dict[str, Any], key: str, model: str
) -> None:
    rows = sample_rows()
    if key == "linear":  # trained without age (impute none needs a NaN-native estimator)
        rows = without(rows, "age")
    response = infer(clients[key], model, tensors(rows))
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o["data"] for o in response.json()["outputs"]}
    labels, proba = in_process(versions[key], rows)
    assert outputs["predict"] == labels.tolist()
    np.testing.assert_allclose(np.reshape(outputs["predict_proba"], proba.shape), proba, rtol=1e-9)


def test_metadata_lists_every_input_with_its_datatype(clients: dict[str, TestClient]) -> None:
    document = clients["hgb"].get("/v2/models/churn").json()
    assert document["inputs"] == [
        {"name": "age", "datatype": "FP64", "shape": [-1]},
        {"name": "income", "datatype": "FP64", "shape": [-1]},
        {"name": "tenure", "datatype": "FP64", "shape": [-1]},
        {"name": "city", "datatype": "BYTES", "shape": [-1], "parameters": {"content_type": "str"}},
        {"name": "plan", "datatype": "BYTES", "shape": [-1], "parameters": {"content_type": "str"}},
        {"name": "has_card", "datatype": "BYTES", "shape": [-1],
         "parameters": {"content_type": "str"}},
    ]  # fmt: skip
    parameters = document["parameters"]
    assert parameters["content_type"] == "pd"
    assert parameters["features"] == ["age", "income", "tenure", "city", "plan", "has_card"]
    assert "batch_input" not in parameters


def test_numbers_in_any_numeric_datatype_and_as_text(
    clients: dict[str, TestClient], versions: dict[str, Any]
) -> None:
    rows = sample_rows(4)
    rows["age"] = [30, None, 51, 64]
    rows["tenure"] = [3, 10, 40, 70]
    as_ints = infer(clients["hgb"], "churn", tensors(rows, tenure="INT32", age="FP32"))
    as_text = infer(
        clients["hgb"],
        "churn",
        tensors(rows | {"tenure": ["3", "10", "40", "70"], "age": ["30", "NA", "51", " 64 "]},
                tenure="BYTES", age="BYTES"),
    )  # fmt: skip
    labels, _ = in_process(versions["hgb"], rows)
    for response in (as_ints, as_text):
        assert response.status_code == 200, response.text
        assert response.json()["outputs"][0]["data"] == labels.tolist()


def test_integer_categories_are_their_decimal_text(clients: dict[str, TestClient]) -> None:
    rows = sample_rows(2)
    rows["has_card"] = [1, 2]  # unknown categories "1" and "2": ignored
    response = infer(clients["hgb"], "churn", tensors(rows, has_card="INT64"))
    assert response.status_code == 200, response.text


def test_kserve_v1_objects_with_nulls(
    clients: dict[str, TestClient], versions: dict[str, Any]
) -> None:
    rows = sample_rows(3)
    instances = [{name: rows[name][i] for name in rows} for i in range(3)]
    response = clients["hgb"].post("/v1/models/churn:predict", json={"instances": instances})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == in_process(versions["hgb"], rows)[0].tolist()


def without(rows: dict[str, list[Any]], name: str) -> dict[str, list[Any]]:
    return {k: v for k, v in rows.items() if k != name}


def _refusals() -> list[Any]:
    rows = sample_rows(3)
    twice = [*tensors(rows), tensors(rows)[3]]
    unknown = [*tensors(rows), {"name": "colour", "datatype": "BYTES", "shape": [3],
                                "data": ["a", "b", "c"]}]  # fmt: skip
    unequal = tensors(rows | {"income": [1.0, 2.0]})
    unequal[1]["shape"] = [2]
    return [
        pytest.param(tensors(without(rows, "city")), "feature 'city' is missing", id="missing"),
        pytest.param(twice, "feature 'city' is given twice", id="twice"),
        pytest.param(unknown, "unknown input 'colour'", id="unknown-name"),
        pytest.param(unequal, "'age' has 3 values, 'income' has 2", id="unequal-lengths"),
        pytest.param(
            tensors(rows | {"city": [1.5, 2.0, 3.0]}, city="FP64"),
            "input 'city' is categorical: send its values as BYTES text (or INT), not FP64 "
            "(found 1.5)",
            id="float-for-category",
        ),
        pytest.param(
            tensors(rows | {"plan": ["basic", "gold", "plus"]}),
            "feature 'plan': unknown category 'gold'",
            id="unknown-category-reject",
        ),
        pytest.param(
            tensors(rows | {"city": ["north", "x" * 65, "south"]}),
            "input 'city': the value at row 1",
            id="over-long-cell",
        ),
        pytest.param(
            tensors(rows | {"income": ["12", "lots", "3"]}, income="BYTES"),
            "input 'income' is numeric: 'lots' is neither a number nor a missing value",
            id="text-for-number",
        ),
        pytest.param(
            tensors(rows | {"income": [1.0, "x", 2.0]}),
            "input 'income': FP64 data must be numbers or null, found 'x'",
            id="mixed-numeric-data",
        ),
        pytest.param(
            tensors(rows | {"city": ["north", 7, "south"]}),
            "input 'city' is categorical: a category is text, found 7 at row 1",
            id="number-in-bytes",
        ),
        pytest.param(
            [{"name": "input", "datatype": "FP64", "shape": [1, 6], "data": [[1, 2, 3, 4, 5, 6]]}],
            "this model has categorical features; send one [n] tensor per feature: age (FP64)",
            id="matrix-for-mixed-model",
        ),
    ]


@pytest.mark.parametrize(("inputs", "message"), _refusals())
def test_rest_refusals_are_400_naming_column_and_value(
    clients: dict[str, TestClient], inputs: list[dict[str, Any]], message: str
) -> None:
    response = infer(clients["hgb"], "churn", inputs)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_invalid_utf8_in_raw_bytes_is_refused_naming_the_column(
    clients: dict[str, TestClient],
) -> None:
    rows = sample_rows(2)
    inputs = tensors(without(rows, "city"))
    raw = b"".join(struct.pack("<I", len(v)) + v for v in (b"north", b"\xff\xfe"))
    inputs.insert(3, {"name": "city", "datatype": "BYTES", "shape": [2],
                      "parameters": {"binary_data_size": len(raw)}})  # fmt: skip
    header = json.dumps({"inputs": inputs}).encode()
    response = clients["hgb"].post(
        "/v2/models/churn/infer",
        content=header + raw,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 400
    assert "input 'city': BYTES elements must be UTF-8 text" in response.json()["error"]


def test_raw_bytes_categories_predict_like_json(
    clients: dict[str, TestClient], versions: dict[str, Any]
) -> None:
    rows = sample_rows(4)
    rows["city"] = ["north", "south", "west", "east"]
    inputs = tensors(without(rows, "city"))
    raw = b"".join(struct.pack("<I", len(v)) + v.encode() for v in rows["city"])
    inputs.insert(3, {"name": "city", "datatype": "BYTES", "shape": [4],
                      "parameters": {"binary_data_size": len(raw)}})  # fmt: skip
    header = json.dumps({"inputs": inputs}).encode()
    response = clients["hgb"].post(
        "/v2/models/churn/infer",
        content=header + raw,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == in_process(versions["hgb"], rows)[0].tolist()


def test_drift_counts_categories_and_the_missing_rate(versions: dict[str, Any]) -> None:
    rows = without(sample_rows(40), "age")
    rows["city"] = ["atlantis"] * 40  # every row unseen: the unknown bin fills
    rows["income"] = [None] * 20 + rows["income"][20:]
    with make_client(versions, "linear", "churn-linear") as client:
        response = infer(client, "churn-linear", tensors(rows))
        assert response.status_code == 200, response.text
        report = client.get("/v2/models/churn-linear/drift").json()
        exposition = client.get("/metrics").text
    assert 'modelship_unknown_categories_total{feature="city"} 40.0' in exposition
    assert 'modelship_drift_missing_rate{feature="income"} 0.5' in exposition
    features = {f["name"]: f for f in report["features"]}
    assert features["city"]["psi"] > 1.0  # a category never seen in training took over
    assert features["plan"]["psi"] < features["city"]["psi"]
    assert features["income"]["missing_rate"] == pytest.approx(0.5)
    assert features["city"]["missing_rate"] is None  # categorical: missing is a category


def test_all_numeric_typed_model_keeps_the_matrix_form_with_gaps(
    versions: dict[str, Any],
) -> None:
    rows = {"income": [30000.0, None, 52000.0], "tenure": [None, 12.0, 60.0]}
    with make_client(versions, "numeric", "churn-numeric") as client:
        matrix = [[30000.0, None], [None, 12.0], [52000.0, 60.0]]
        as_matrix = infer(
            client, "churn-numeric",
            [{"name": "input", "datatype": "FP64", "shape": [3, 2], "data": matrix}],
        )  # fmt: skip
        by_feature = infer(client, "churn-numeric", tensors(rows))
        document = client.get("/v2/models/churn-numeric").json()
    assert as_matrix.status_code == by_feature.status_code == 200, as_matrix.text
    assert as_matrix.json()["outputs"] == by_feature.json()["outputs"]
    labels, _ = in_process(versions["numeric"], rows)
    assert as_matrix.json()["outputs"][0]["data"] == labels.tolist()
    assert document["parameters"]["batch_input"]["shape"] == [-1, 2]


@pytest.mark.parametrize(("key", "model"), [("hgb", "churn"), ("linear", "churn-linear")])
def test_a_loaded_version_checks_and_uses_the_request_shortcut(
    versions: dict[str, Any], key: str, model: str
) -> None:
    """The loader turns the shortcut on only after it agreed with the general path on the
    version's held-out rows; a request it takes predicts what the general path predicts."""
    from modelship.serving import typed_codec
    from modelship.serving.loader import load_version

    version = versions[key]
    settings = ServingSettings(
        model_name=model, namespace=NAMESPACE, version=version.metadata.version,
        catalog_root=str(versions["root"]), expected_digest=version.metadata.digest,
    )  # fmt: skip
    loaded = load_version(settings)
    features = loaded.features
    assert features is not None and features.fast is not None
    rows = sample_rows(12)
    rows = without(rows, "age") if key == "linear" else rows
    payload = {"inputs": tensors(rows)}
    assert features.fast.take(payload, 100) is None  # an unseen city: the general path's
    rows["city"][2] = None
    payload = {"inputs": tensors(rows)}
    assert features.fast.take(payload, 100) is not None
    served = features.decode_v2(payload, True, 100).encoded
    general = features.encode(typed_codec.decode_v2(payload, features.schema, True, 100).columns)
    assert np.array_equal(served.matrix, general.matrix, equal_nan=True)
    assert np.array_equal(served.drift_rows, general.drift_rows, equal_nan=True)
