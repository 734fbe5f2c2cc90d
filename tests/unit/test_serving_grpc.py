"""The Open Inference Protocol over gRPC, spoken by NVIDIA Triton's own client, unchanged, to a
real `python -m modelship.serving` process (its own process: Triton's generated messages and
ours share the `inference` package and cannot live in one descriptor pool)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from sklearn.linear_model import LogisticRegression
from tritonclient.utils import InferenceServerException

from support.serving import ServerProcess, iris_server, server_metric
from support.waiting import wait_for


@pytest.fixture(scope="module", params=["h2", "grpcio"])
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ServerProcess]:
    """Both transports (ours and grpcio's) answer every test alike."""
    root = tmp_path_factory.mktemp("grpc")
    with iris_server(root, drain_seconds="2", grpc_transport=request.param) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(f"{server.host}:{server.grpc_port}")
    yield client
    client.close()


def rows_input(rows: np.ndarray, datatype: str = "FP64") -> triton.InferInput:
    tensor = triton.InferInput("input", list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows)
    return tensor


def sklearn_model(server: ServerProcess) -> LogisticRegression:
    return LogisticRegression(max_iter=1000).fit(server.x, server.y)


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("iris") and client.is_model_ready("iris", "1")
    server = client.get_server_metadata(as_json=True)
    assert server["name"] == "modelship" and "drift" in server["extensions"]
    model = client.get_model_metadata("iris", as_json=True)
    assert model["name"] == "iris" and model["versions"] == ["1"]
    assert [i["name"] for i in model["inputs"]][:2] == ["sepal_length", "sepal_width"]
    assert {o["name"]: o["datatype"] for o in model["outputs"]} == {
        "predict": "INT64",
        "predict_proba": "FP64",
    }


def test_predictions_equal_scikit_learn(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    rows = server.x[::10]
    outputs = [triton.InferRequestedOutput("predict"), triton.InferRequestedOutput("predict_proba")]
    result = client.infer("iris", [rows_input(rows)], outputs=outputs, request_id="r-1")
    reference = sklearn_model(server)
    assert result.as_numpy("predict").tolist() == reference.predict(rows).tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), reference.predict_proba(rows))
    response = result.get_response(as_json=True)
    assert (response["model_name"], response["model_version"], response["id"]) == (
        "iris", "1", "r-1",
    )  # fmt: skip


def test_one_tensor_per_feature_and_fp32(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    rows = server.x[:5]
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    inputs = []
    for i, name in enumerate(names):
        tensor = triton.InferInput(name, [5], "FP32")
        tensor.set_data_from_numpy(rows[:, i].astype(np.float32))
        inputs.append(tensor)
    predicted = client.infer("iris", inputs).as_numpy("predict")
    assert predicted.tolist() == sklearn_model(server).predict(rows.astype(np.float32)).tolist()


@pytest.mark.parametrize(
    ("dtype", "datatype"),
    [(np.int32, "INT32"), (np.int8, "INT8"), (np.uint8, "UINT8"), (np.uint64, "UINT64"),
     (np.float16, "FP16"), (np.bool_, "BOOL")],
)  # fmt: skip
def test_every_numeric_datatype_predicts_what_scikit_learn_does_on_the_same_values(
    client: triton.InferenceServerClient, server: ServerProcess, dtype: type, datatype: str
) -> None:
    rows = (server.x[::15] * 10).astype(dtype)  # integers: tenths of a centimetre
    predicted = client.infer("iris", [rows_input(rows, datatype)]).as_numpy("predict")
    assert predicted.tolist() == sklearn_model(server).predict(rows.astype(np.float64)).tolist()


def test_bad_requests_get_the_rest_reasons_as_grpc_status(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    with pytest.raises(InferenceServerException) as wrong_shape:
        client.infer("iris", [rows_input(server.x[:2, :3])])
    assert wrong_shape.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "the model expects [n, 4]" in wrong_shape.value.message()

    with pytest.raises(InferenceServerException) as wrong_type:
        client.infer("iris", [rows_input(server.x[:2].astype(np.float32), "BF16")])
    assert "supported: FP16, FP32, FP64" in wrong_type.value.message()

    nan = server.x[:2].copy()
    nan[0, 2] = np.nan
    with pytest.raises(InferenceServerException) as non_finite:
        client.infer("iris", [rows_input(nan)])
    assert "non-finite values" in non_finite.value.message()

    with pytest.raises(InferenceServerException) as unknown:
        client.infer("wine", [rows_input(server.x[:1])])
    assert unknown.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException):
        client.is_model_ready("iris", "7")


def test_grpc_traffic_counts_in_metrics_and_drift(
    client: triton.InferenceServerClient, server: ServerProcess
) -> None:
    rows_before = server_metric(server, "modelship_inference_rows_total")
    drift_before = server_metric(server, "modelship_drift_observed_rows")
    calls_before = server_metric(
        server, "modelship_grpc_requests_total", absent=0.0, method="ModelInfer", code="OK"
    )
    client.infer("iris", [rows_input(server.x[:7])])
    assert server_metric(server, "modelship_inference_rows_total") == rows_before + 7
    assert server_metric(server, "modelship_drift_observed_rows") == drift_before + 7
    calls = server_metric(server, "modelship_grpc_requests_total", method="ModelInfer", code="OK")
    assert calls == calls_before + 1


def test_sigterm_turns_grpc_readiness_off_while_calls_are_still_served(
    tmp_path: Path,
) -> None:
    with iris_server(tmp_path, drain_seconds="3") as server:
        client = triton.InferenceServerClient(f"{server.host}:{server.grpc_port}")
        assert client.is_server_ready()
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: not client.is_server_ready(), timeout=2, interval=0.05,
                 what="gRPC readiness off")  # fmt: skip
        assert client.is_server_live()
        assert client.infer("iris", [rows_input(server.x[:1])]).as_numpy("predict").tolist() == [0]
        client.close()
        assert server.process.wait(timeout=30) == 0


def test_unknown_methods_undecodable_and_oversized_messages(server: ServerProcess) -> None:
    """What Triton's client cannot send, through grpcio's raw client: the same statuses on
    both transports."""
    with grpc.insecure_channel(f"{server.host}:{server.grpc_port}") as channel:

        def method(name: str) -> grpc.UnaryUnaryMultiCallable:
            path = f"/inference.GRPCInferenceService/{name}"
            return channel.unary_unary(path, lambda b: b, lambda b: b)

        with pytest.raises(grpc.RpcError) as unknown:
            method("ModelStreamInfer")(b"")
        assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED
        with pytest.raises(grpc.RpcError) as garbage:
            method("ModelInfer")(b"\xff\xff\xff")
        assert garbage.value.code() == grpc.StatusCode.INTERNAL
        with pytest.raises(grpc.RpcError) as too_large:
            method("ModelInfer")(b"\x00" * (5 << 20))  # the limit is 4 MiB
        assert too_large.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert method("ServerLive")(b"") == b"\x08\x01"  # live: true
