"""NVIDIA Triton's HTTP (JSON and binary) and gRPC clients, unchanged, against a real
`python -m modelship.serving` serving a version with typed features: one tensor per feature
(FP64 with NaN for missing, BYTES categories), the same predictions as the stored estimator
called in-process on the same rows, and the same refusals, naming the column."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from support.serving import ServerProcess, serve
from support.typed import FEATURES, in_process, sample_rows, train_churn

CATEGORICAL = ("city", "plan", "has_card")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Any]]:
    root = tmp_path_factory.mktemp("typed-clients")
    version = train_churn(root, "churn", "hist_gradient_boosting", FEATURES)
    empty = np.empty(0)
    with serve(root, version.metadata, empty, empty, limits__max_cell_bytes="64") as server:
        yield server, version


def arrays(rows: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    """The rows as numpy, the way a pandas user hands them to Triton's client."""
    out = {}
    for name, values in rows.items():
        if name in CATEGORICAL:
            out[name] = np.array(["" if v is None else v for v in values], dtype=object)
        else:
            out[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return out


def http_inputs(rows: dict[str, list[Any]], binary: bool) -> list[triton_http.InferInput]:
    inputs = []
    for name, values in arrays(rows).items():
        tensor = triton_http.InferInput(
            name, [len(values)], "BYTES" if values.dtype == object else "FP64"
        )
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


def grpc_inputs(rows: dict[str, list[Any]]) -> list[triton_grpc.InferInput]:
    inputs = []
    for name, values in arrays(rows).items():
        tensor = triton_grpc.InferInput(
            name, [len(values)], "BYTES" if values.dtype == object else "FP64"
        )
        tensor.set_data_from_numpy(values)
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_triton_http_gets_the_estimators_predictions(
    served: tuple[ServerProcess, Any], binary: bool
) -> None:
    server, version = served
    rows = sample_rows(16)
    if not binary:  # JSON mode cannot carry NaN portably: a numeric gap goes as a missing token
        rows["age"] = [30.0 if v is None else v for v in rows["age"]]
    client = triton_http.InferenceServerClient(f"{server.host}:{server.port}")
    try:
        outputs = [triton_http.InferRequestedOutput(n, binary_data=binary)
                   for n in ("predict", "predict_proba")]  # fmt: skip
        result = client.infer("churn", http_inputs(rows, binary), outputs=outputs)
        labels, proba = in_process(version, rows)
        assert result.as_numpy("predict").tolist() == labels.tolist()
        np.testing.assert_allclose(result.as_numpy("predict_proba"), proba, rtol=1e-9)
        metadata = client.get_model_metadata("churn")
        assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == {
            "age": "FP64", "income": "FP64", "tenure": "FP64",
            "city": "BYTES", "plan": "BYTES", "has_card": "BYTES",
        }  # fmt: skip
    finally:
        client.close()


def test_triton_grpc_gets_the_estimators_predictions(served: tuple[ServerProcess, Any]) -> None:
    server, version = served
    rows = sample_rows(16)
    client = triton_grpc.InferenceServerClient(f"{server.host}:{server.grpc_port}")
    try:
        outputs = [triton_grpc.InferRequestedOutput(n) for n in ("predict", "predict_proba")]
        result = client.infer("churn", grpc_inputs(rows), outputs=outputs)
        labels, proba = in_process(version, rows)
        assert result.as_numpy("predict").tolist() == labels.tolist()
        np.testing.assert_allclose(result.as_numpy("predict_proba"), proba, rtol=1e-9)
        metadata = client.get_model_metadata("churn", as_json=True)
        assert [i["datatype"] for i in metadata["inputs"]] == ["FP64"] * 3 + ["BYTES"] * 3
    finally:
        client.close()


def test_grpc_refusals_name_column_and_value(served: tuple[ServerProcess, Any]) -> None:
    server, _ = served
    client = triton_grpc.InferenceServerClient(f"{server.host}:{server.grpc_port}")
    try:
        rows = sample_rows(3)
        rows["plan"] = ["basic", "gold", "plus"]
        with pytest.raises(InferenceServerException) as refused:
            client.infer("churn", grpc_inputs(rows))
        assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert "feature 'plan': unknown category 'gold'" in refused.value.message()

        rows = sample_rows(3)
        inputs = [i for i in grpc_inputs(rows) if i.name() != "tenure"]
        with pytest.raises(InferenceServerException, match="feature 'tenure' is missing"):
            client.infer("churn", inputs)
    finally:
        client.close()


def test_binary_refusals_name_column_and_value(served: tuple[ServerProcess, Any]) -> None:
    server, _ = served
    client = triton_http.InferenceServerClient(f"{server.host}:{server.port}")
    try:
        rows = sample_rows(2)
        inputs = http_inputs(rows, binary=True)
        city = triton_http.InferInput("city", [2], "BYTES")
        city.set_data_from_numpy(np.array([b"north", b"\xff\xfe"], dtype=object))
        inputs[3] = city
        with pytest.raises(
            InferenceServerException, match="input 'city': BYTES elements must be UTF-8"
        ):
            client.infer("churn", inputs)
        rows["city"] = ["north", "x" * 100]
        with pytest.raises(InferenceServerException, match="input 'city': the value at row 1"):
            client.infer("churn", http_inputs(rows, binary=True))
    finally:
        client.close()
