"""Capture and feedback into a real registry: serve iris with capture at 100 % into the
catalog's default store (repository `<ns>/iris-capture` of a real Distribution registry), predict,
send labels, stop the server, and read captured and labelled segments back, joined."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from modelship.catalog.segments import default_store_uri, open_segment_store, segments
from modelship.catalog.segments_oci import SEGMENT_ARTIFACT_TYPE, RegistrySegmentStore
from modelship.contracts.capture import CaptureEnv
from modelship.monitoring.join import evaluate
from support.registry import LocalRegistry, local_registry
from support.serving import NAMESPACE, ServerProcess, iris_server

pytestmark = pytest.mark.integration

TOKEN = "live-token"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    with local_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, registry: LocalRegistry
) -> Iterator[ServerProcess]:
    # The catalog itself is a directory here; the capture store is the registry's repository
    # that the default layout would pick for a registry catalog.
    store = default_store_uri(registry.catalog_uri, NAMESPACE, "iris")
    capture = CaptureEnv(sample_rate=1.0, store=store, flush_seconds=1)
    settings = {
        "capture": json.dumps(capture.model_dump(mode="json")),
        "feedback_token": TOKEN,
        "drain_seconds": "0",
    }
    with iris_server(tmp_path_factory.mktemp("served"), **settings) as server:
        yield server


def test_predictions_and_labels_land_in_the_registry_and_join(
    server: ServerProcess, registry: LocalRegistry
) -> None:
    base = f"http://{server.host}:{server.port}"
    rows = server.x[[0, 60, 120, 1, 61, 121]].tolist()
    body = {
        "id": "live-1",
        "inputs": [{"name": "input", "datatype": "FP64", "shape": [6, 4], "data": rows}],
        "outputs": [{"name": "predict"}, {"name": "modelship_id"}],
    }
    answer = httpx.post(f"{base}/v2/models/iris/infer", json=body).json()
    predicted = answer["outputs"][0]["data"]
    ids = answer["outputs"][1]["data"]
    assert ids == [f"live-1/{i}" for i in range(6)]
    # Labels: the truth for the first four rows (so accuracy is what the model got right there),
    # a malformed id and one the server never answered.
    truth = server.y[[0, 60, 120, 1]].tolist()
    labels = [{"id": i, "label": t} for i, t in zip(ids, truth, strict=False)]
    labels += [{"id": 5, "label": 0}, {"id": "never/0", "label": 1}]
    refused = httpx.post(f"{base}/v2/models/iris/feedback", json={"labels": labels})
    assert refused.status_code == 401
    sent = httpx.post(
        f"{base}/v2/models/iris/feedback",
        json={"labels": labels, "source": "live-test"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert sent.status_code == 200, sent.text
    # "never/0" is sampled at 100 % and well-formed: accepted here, an orphan in the join.
    assert sent.json()["accepted"] == 5 and sent.json()["counts"]["malformed_id"] == 1

    store = open_segment_store(default_store_uri(registry.catalog_uri, NAMESPACE, "iris"))
    assert isinstance(store, RegistrySegmentStore)
    deadline = time.monotonic() + 20
    while not store.names("captures") and time.monotonic() < deadline:
        time.sleep(0.2)  # the writer flushes every second
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0

    captured = [r for _, recs in segments(store, "captures") for r in recs]
    labelled = [r for _, recs in segments(store, "labels") for r in recs]
    assert sorted(r["id"] for r in captured) == sorted(ids)
    assert {r["source"] for r in labelled} == {"live-test"}
    tag = store.names("captures")[0].text
    manifest = store.registry.get_manifest(store.repo, tag)
    assert manifest is not None and manifest[0]["artifactType"] == SEGMENT_ARTIFACT_TYPE
    assert manifest[0]["annotations"]["io.modelship.model"] == "iris"

    result = evaluate(captured, labelled, task="classification", now=time.time())
    (version,) = result.versions
    right = sum(p == t for p, t in zip(predicted[:4], truth, strict=True))
    assert (version.version, version.captured, version.labelled) == (1, 6, 4)
    assert version.estimate is not None and version.estimate.value == right / 4
    assert result.orphan_labels == 1


def test_the_registry_keeps_segments_apart_per_model(registry: LocalRegistry) -> None:
    names = httpx.get(f"{registry.url}/v2/_catalog").json()["repositories"]
    assert any(name.endswith(f"{NAMESPACE}/iris-capture") for name in names)
