"""NVIDIA Triton's HTTP client, unchanged and with its defaults, against a real
`python -m modelship.serving` process: it sends tensors as raw bytes after the JSON header and
asks for raw outputs (the binary tensor data extension), and must get the predictions
scikit-learn makes, the same refusals a JSON client gets, and the same metrics and drift."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.http as triton
from sklearn.linear_model import LogisticRegression
from tritonclient.utils import InferenceServerException

from support.serving import ServerProcess, iris_server, server_metric


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with iris_server(tmp_path_factory.mktemp("triton-http")) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(f"{server.host}:{server.port}")
    yield client
    client.close()


def rows_input(rows: np.ndarray, datatype: str = "FP64", binary: bool = True) -> triton.InferInput:
    tensor = triton.InferInput("input", list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows, binary_data=binary)
    return tensor


def reference(server: ServerProcess) -> LogisticRegression:
    return LogisticRegression(max_iter=1000).fit(server.x, server.y)


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("iris") and client.is_model_ready("iris", "1")
    assert client.get_model_metadata("iris")["versions"] == ["1"]


def test_defaults_raw_inputs_and_raw_outputs(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    rows = server.x[::7]
    result = client.infer("iris", [rows_input(rows)], request_id="r-7")
    response = result.get_response()
    assert response["id"] == "r-7" and response["model_version"] == "1"
    assert response["outputs"][0]["parameters"]["binary_data_size"] == 8 * len(rows)
    assert result.as_numpy("predict").tolist() == reference(server).predict(rows).tolist()


@pytest.mark.parametrize(
    ("binary_in", "binary_out"), [(True, False), (False, True), (False, False)]
)
def test_every_mix_of_raw_and_json(
    client: triton.InferenceServerClient, server: ServerProcess, binary_in: bool, binary_out: bool
) -> None:
    rows = server.x[1::9]
    outputs = [
        triton.InferRequestedOutput("predict", binary_data=binary_out),
        triton.InferRequestedOutput("predict_proba", binary_data=not binary_out),
    ]
    result = client.infer("iris", [rows_input(rows, binary=binary_in)], outputs=outputs)
    model = reference(server)
    assert result.as_numpy("predict").tolist() == model.predict(rows).tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(rows))


def test_one_raw_fp32_tensor_per_feature(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    rows = server.x[:6].astype(np.float32)
    inputs = []
    for i, name in enumerate(["sepal_length", "sepal_width", "petal_length", "petal_width"]):
        tensor = triton.InferInput(name, [6], "FP32")
        tensor.set_data_from_numpy(rows[:, i])
        inputs.append(tensor)
    predicted = client.infer("iris", inputs).as_numpy("predict")
    assert predicted.tolist() == reference(server).predict(rows).tolist()


# FP16 travels only raw: Triton's client has no JSON form for half floats.
NARROW = [
    (np.int32, "INT32", True), (np.int32, "INT32", False),
    (np.uint16, "UINT16", True), (np.uint16, "UINT16", False),
    (np.float16, "FP16", True),
]  # fmt: skip


@pytest.mark.parametrize(("dtype", "datatype", "binary"), NARROW)
def test_narrow_datatypes_raw_and_json(
    client: triton.InferenceServerClient,
    server: ServerProcess,
    dtype: type,
    datatype: str,
    binary: bool,
) -> None:
    rows = (server.x[2::13] * 10).astype(dtype)
    predicted = client.infer("iris", [rows_input(rows, datatype, binary)]).as_numpy("predict")
    assert predicted.tolist() == reference(server).predict(rows.astype(np.float64)).tolist()


def test_refusals_are_the_json_clients(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    with pytest.raises(InferenceServerException, match=r"the model expects \[n, 4\]"):
        client.infer("iris", [rows_input(server.x[:2, :3])])
    nan = server.x[:2].copy()
    nan[1, 0] = np.nan
    with pytest.raises(InferenceServerException, match="non-finite values"):
        client.infer("iris", [rows_input(nan)])
    with pytest.raises(InferenceServerException, match="wine"):
        client.infer("wine", [rows_input(server.x[:1])])
    # A raw tensor shorter than its declared shape is refused, never padded.
    short = rows_input(server.x[:2])
    short._parameters["binary_data_size"] = 8 * 7
    short._raw_data = short._raw_data[: 8 * 7]
    with pytest.raises(InferenceServerException, match="declares shape"):
        client.infer("iris", [short])


def test_raw_requests_count_in_metrics_and_drift(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    rows_before = server_metric(server, "modelship_inference_rows_total")
    drift_before = server_metric(server, "modelship_drift_observed_rows")
    client.infer("iris", [rows_input(server.x[:11])])
    assert server_metric(server, "modelship_inference_rows_total") == rows_before + 11
    assert server_metric(server, "modelship_drift_observed_rows") == drift_before + 11
