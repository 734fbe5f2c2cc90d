"""Workers' metric updates are buffered in the process (metric_buffer.py): no shared-file write per
request, the same figures as direct updates once flushed, flushed by every scrape, and nothing
lost when a worker exits (at interpreter exit, and on SIGTERM through the lifespan shutdown)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from modelship.serving.metric_buffer import MetricBuffer
from modelship.serving.metrics import ServingMetrics
from support.serving import iris_server

REQUESTS, ROWS = 40, 3


def without_created(text: bytes) -> list[str]:
    return [line for line in text.decode().splitlines() if "_created" not in line]


def shared_samples(directory: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """What any worker's /metrics would export from the files in `directory`."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
    }


def test_a_flushed_histogram_equals_one_observed_directly() -> None:
    buckets = (0.001, 0.01, 0.1, 1.0)
    values = [0.0, 0.001, 0.0010001, 0.01, 0.05, 0.1, 0.99, 1.0, 1.5, 1e9, -1.0]
    direct = Histogram("h", "h", buckets=buckets, registry=(direct_registry := CollectorRegistry()))
    buffered_family = Histogram(
        "h", "h", buckets=buckets, registry=(buffered_registry := CollectorRegistry())
    )
    buffer = MetricBuffer()
    buffered = buffer.histogram(buffered_family)
    for value in values:
        direct.observe(value)
        buffered.observe(value)
    assert buffered_registry.get_sample_value("h_count") == 0  # nothing written yet
    buffer.flush()
    buffer.flush()  # a second flush writes nothing twice
    assert without_created(generate_latest(buffered_registry)) == without_created(
        generate_latest(direct_registry)
    )


def test_a_workers_updates_wait_for_the_flush_and_every_scrape_flushes(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    metrics = ServingMetrics(registry, shared_dir=str(tmp_path))
    for _ in range(5):
        metrics.request_started()
        metrics.observe_request("infer", "POST", 200, 0.002)
        metrics.observe_rpc("ModelInfer", "OK", 0.002)
    metrics.observe_batch(5)
    labels = {"route": "infer", "method": "POST", "code": "200"}
    assert registry.get_sample_value("modelship_http_requests_total", labels) == 0
    assert registry.get_sample_value("modelship_inference_in_flight_requests") == 0

    generate_latest(metrics.exposition)  # a scrape of this worker

    assert registry.get_sample_value("modelship_http_requests_total", labels) == 5
    assert registry.get_sample_value("modelship_grpc_requests_total", {
        "method": "ModelInfer", "code": "OK"}) == 5  # fmt: skip
    assert (
        registry.get_sample_value(
            "modelship_http_request_duration_seconds_bucket", {"route": "infer", "le": "0.0025"}
        )
        == 5
    )
    assert registry.get_sample_value("modelship_inference_batch_rows_sum") == 5
    assert registry.get_sample_value("modelship_inference_in_flight_requests") == 5
    for _ in range(5):
        metrics.request_finished()
    metrics.flush()
    assert registry.get_sample_value("modelship_inference_in_flight_requests") == 0


def test_without_workers_updates_are_immediate() -> None:
    registry = CollectorRegistry()
    metrics = ServingMetrics(registry)
    assert metrics.buffer is None
    metrics.observe_request("infer", "POST", 200, 0.002)
    metrics.request_started()
    labels = {"route": "infer", "method": "POST", "code": "200"}
    assert registry.get_sample_value("modelship_http_requests_total", labels) == 1
    assert registry.get_sample_value("modelship_inference_in_flight_requests") == 1


# A worker process in multiprocess mode (PROMETHEUS_MULTIPROC_DIR is read when prometheus_client
# is imported, so it takes a process of its own): requests' updates, the shared files' writes
# counted, then an exit without any explicit flush.
WORKER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from prometheus_client import CollectorRegistry, mmap_dict
    from modelship.serving.metrics import ServingMetrics

    writes = 0
    write_value = mmap_dict.MmapedDict.write_value
    def counted(self, *args, **kwargs):
        global writes
        writes += 1
        return write_value(self, *args, **kwargs)
    mmap_dict.MmapedDict.write_value = counted

    requests, rows = int(sys.argv[1]), int(sys.argv[2])
    metrics = ServingMetrics(CollectorRegistry(), shared_dir=sys.argv[3])
    metrics._class_children = [metrics._counter(metrics.requests.labels("c", "c", "c"))]
    before = writes
    for _ in range(requests):
        metrics.request_started()
        metrics.observe_batch(rows)
        metrics.observe_predictions(rows, np.zeros(rows, dtype=np.intp), np.zeros(rows))
        metrics.request_finished()
        metrics.observe_request("infer", "POST", 200, 0.002)
    print(json.dumps({"writes": writes - before}))
    """
)


def test_a_worker_writes_no_file_per_request_and_loses_nothing_at_exit(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(REQUESTS), str(ROWS), str(shared)],
        env={"PROMETHEUS_MULTIPROC_DIR": str(shared), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent,
    )
    # Label children are created on first use (a write each); requests themselves write nothing.
    assert json.loads(done.stdout)["writes"] <= 10, done.stdout
    samples = shared_samples(shared)
    infer = (("code", "200"), ("method", "POST"), ("route", "infer"))
    assert samples[("modelship_http_requests_total", infer)] == REQUESTS
    assert samples[("modelship_inference_rows_total", ())] == REQUESTS * ROWS
    assert samples[("modelship_inference_batch_rows_count", ())] == REQUESTS
    assert samples[("modelship_inference_batch_rows_sum", ())] == REQUESTS * ROWS
    latency = (("le", "0.0025"), ("route", "infer"))
    assert samples[("modelship_http_request_duration_seconds_bucket", latency)] == REQUESTS


def test_a_worker_stopped_by_sigterm_leaves_its_totals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    with iris_server(tmp_path, worker_dir=str(shared), drain_seconds="0") as server:
        body = {"inputs": [{"name": "input", "datatype": "FP64", "shape": [ROWS, 4],
                            "data": server.x[:ROWS].tolist()}]}  # fmt: skip
        url = f"http://{server.host}:{server.port}/v2/models/iris/infer"
        with httpx.Client() as client:
            for _ in range(REQUESTS):
                assert client.post(url, json=body).status_code == 200
        server.process.terminate()
        assert server.process.wait(timeout=30) == 0
    samples = shared_samples(shared)
    infer = (("code", "200"), ("method", "POST"), ("route", "infer"))
    assert samples[("modelship_http_requests_total", infer)] == REQUESTS
    assert samples[("modelship_inference_rows_total", ())] == REQUESTS * ROWS
    classes = sum(
        value for (name, _), value in samples.items() if name == "modelship_predictions_total"
    )
    assert classes == REQUESTS * ROWS
    assert np.isclose(samples[("modelship_inference_in_flight_requests", ())], 0)
