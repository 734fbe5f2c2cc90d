"""Ids and capture over gRPC, with Triton's own client, against a real server process whose
capture settings come through the pod-environment contract (`ServingEnv.capture` as JSON)."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton

from modelship.catalog.segments import DirectorySegmentStore, segments
from modelship.contracts.capture import CaptureEnv
from support.serving import ServerProcess, iris_server

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("captures")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, store: Path) -> Iterator[ServerProcess]:
    capture = CaptureEnv(sample_rate=1.0, store=store.as_uri(), flush_seconds=3600)
    settings = {"capture": json.dumps(capture.model_dump(mode="json")), "drain_seconds": "0"}
    with iris_server(tmp_path_factory.mktemp("grpc-ids"), **settings) as server:
        yield server


def infer(server: ServerProcess, outputs: list[str], **kwargs: object) -> triton.InferResult:
    client = triton.InferenceServerClient(f"{server.host}:{server.grpc_port}")
    try:
        tensor = triton.InferInput("input", list(ROWS.shape), "FP64")
        tensor.set_data_from_numpy(ROWS)
        requested = [triton.InferRequestedOutput(name) for name in outputs]
        return client.infer("iris", [tensor], outputs=requested or None, **kwargs)
    finally:
        client.close()


def test_the_answer_names_the_request_and_its_rows(server: ServerProcess) -> None:
    result = infer(server, ["predict", "modelship_id", "modelship_captured"], request_id="g-1")
    response = result.get_response()
    assert response.id == "g-1"
    ids = result.as_numpy("modelship_id")
    assert ids is not None and [i.decode() for i in ids] == ["g-1/0", "g-1/1", "g-1/2"]
    captured = result.as_numpy("modelship_captured")
    assert captured is not None and captured.tolist() == [True, True, True]


def test_the_request_id_header_and_a_generated_id(server: ServerProcess) -> None:
    headed = infer(server, [], headers={"x-request-id": "hdr-7"}).get_response()
    assert headed.id == "hdr-7"
    generated = infer(server, []).get_response()
    assert uuid.UUID(generated.id).version == 7


def test_sigterm_writes_the_captured_rows(server: ServerProcess, store: Path) -> None:
    infer(server, [], request_id="g-last")
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    records = [r for _, recs in segments(DirectorySegmentStore(store), "captures") for r in recs]
    ids = [r["id"] for r in records]
    assert {"g-1/0", "g-1/2", "hdr-7/1", "g-last/2"} <= set(ids)
    assert all(r["stage"] == "test" and r["version"] == 1 for r in records)
