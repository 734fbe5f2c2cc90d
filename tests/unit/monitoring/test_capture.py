"""Capture: sampling by id hash, the bounded queue, segments written and read back, retention,
and requests that never wait for (or fail because of) the store."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from modelship.catalog.errors import StorageError
from modelship.catalog.segments import (
    DirectorySegmentStore,
    SegmentName,
    segment_name,
    segments,
)
from modelship.contracts.capture import CaptureEnv, CaptureRecord, sampled
from modelship.serving.capture import Capture, CaptureMetrics
from modelship.serving.capture_records import Served
from modelship.serving.runtime import Prediction
from support.monitoring import MakeClient, infer_body, metric

SERVED = Served(model="iris", version=3, digest="sha256:" + "0" * 64, stage="production")


def prediction(n: int, proba: bool = False) -> Prediction:
    labels = np.arange(n) % 3
    return Prediction(labels, labels, np.full((n, 3), 1 / 3) if proba else None)


def columns(n: int) -> dict[str, np.ndarray[Any, Any]]:
    return {"a": np.arange(n, dtype=float), "secret": np.array([f"s{i}" for i in range(n)])}


def make_capture(store: Any, clock: Any = time.time, **settings: Any) -> Capture:
    capture = Capture(
        CaptureEnv(**settings), store, CaptureMetrics(CollectorRegistry()), writer="t", clock=clock
    )
    capture.bind(SERVED)
    return capture


class UnreachableStore(DirectorySegmentStore):
    """A store whose every write fails as an unreachable registry's would."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent"))
        self.attempts = 0

    def write(self, name: SegmentName, data: bytes, annotations: dict[str, str]) -> None:
        self.attempts += 1
        raise StorageError("registry unreachable")


# --- sampling ----------------------------------------------------------------------------


def test_sampling_is_the_same_in_another_process() -> None:
    ids = [f"req-{i}/{i % 4}" for i in range(2000)]
    here = "".join("1" if sampled(i, 0.25) else "0" for i in ids)
    code = (
        "import sys; from modelship.contracts.capture import sampled; "
        "print(''.join('1' if sampled(l.strip(), 0.25) else '0' for l in sys.stdin))"
    )
    there = subprocess.run(
        [sys.executable, "-c", code], input="\n".join(ids), capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    assert there == here
    assert 0.22 < here.count("1") / len(ids) < 0.28


def test_rate_zero_and_one_are_exact() -> None:
    assert not any(sampled(f"x/{i}", 0.0) for i in range(500))
    assert all(sampled(f"x/{i}", 1.0) for i in range(500))


# --- the queue and the writer ------------------------------------------------------------


def test_segments_round_trip_with_excluded_columns(tmp_path: Path) -> None:
    store = DirectorySegmentStore(tmp_path)
    capture = make_capture(store, sample_rate=1.0, exclude=["secret"], segment_rows=4)
    ids = [f"r/{i}" for i in range(6)]
    mask = capture.offer(ids, lambda: columns(6), prediction(6, proba=True))
    assert mask == [True] * 6
    assert capture.flush() == 6
    found = list(segments(store, "captures"))
    assert [len(records) for _, records in found] == [6]  # one request is never split
    records = [CaptureRecord.model_validate(r) for r in found[0][1]]
    assert [r.id for r in records] == ids
    assert records[1].inputs == {"a": 1.0}  # 'secret' never written
    assert records[1].prediction == 1 and records[1].proba == [1 / 3] * 3
    assert (records[0].model, records[0].version, records[0].stage) == ("iris", 3, "production")


def test_segments_hold_at_most_segment_rows_of_whole_requests(tmp_path: Path) -> None:
    store = DirectorySegmentStore(tmp_path)
    capture = make_capture(store, sample_rate=1.0, segment_rows=5)
    for request in range(4):
        capture.offer([f"q{request}/{i}" for i in range(2)], lambda: columns(2), prediction(2))
    assert capture.flush() == 8
    assert sorted(len(r) for _, r in segments(store, "captures")) == [4, 4]


def test_a_full_queue_drops_and_counts_and_never_raises() -> None:
    store = UnreachableStore()
    capture = make_capture(store, sample_rate=1.0, queue_rows=5)
    assert capture.offer(["a/0", "a/1", "a/2"], lambda: columns(3), prediction(3)) == [True] * 3
    assert capture.flush() == 0  # the write failed: the rows stay queued, counted
    dropped = capture.offer(["b/0", "b/1", "b/2"], lambda: columns(3), prediction(3))
    assert dropped == [False] * 3
    registry = capture._metrics.dropped  # the counter the app exports
    assert registry._value.get() == 3
    assert capture.queued_rows == 3 and capture._metrics.failures._value.get() == 1


def test_rows_that_cannot_be_written_are_dropped_and_the_writer_goes_on(tmp_path: Path) -> None:
    store = DirectorySegmentStore(tmp_path)
    capture = make_capture(store, sample_rate=1.0)
    odd = Prediction(np.array([object()], dtype=object), None, None)
    capture.offer(["bad/0"], lambda: columns(1), odd)
    assert capture.flush() == 0 and capture.queued_rows == 0
    capture.offer(["good/0"], lambda: columns(1), prediction(1))
    assert capture.flush() == 1
    assert [r["id"] for _, recs in segments(store, "captures") for r in recs] == ["good/0"]
    assert capture._metrics.dropped._value.get() == 1


def test_close_writes_what_is_queued(tmp_path: Path) -> None:
    store = DirectorySegmentStore(tmp_path)
    capture = make_capture(store, sample_rate=1.0, flush_seconds=3600)
    capture.start()
    capture.offer(["c/0"], lambda: columns(1), prediction(1))
    capture.close()
    assert [r["id"] for _, recs in segments(store, "captures") for r in recs] == ["c/0"]


def test_retention_removes_old_segments(tmp_path: Path) -> None:
    store = DirectorySegmentStore(tmp_path)
    now = datetime(2026, 12, 7, tzinfo=UTC)
    old = segment_name("captures", "w", 1, now - timedelta(days=40))
    young = segment_name("labels", "w", 2, now - timedelta(days=2))
    for name in (old, young):
        store.write(name, b"", {})
    capture = make_capture(store, clock=now.timestamp, retention_days=30)
    capture._maybe_prune()
    assert store.names("captures") == [] and store.names("labels") == [young]


# --- in the server -----------------------------------------------------------------------


def test_served_rows_are_captured_with_their_version(
    make_client: MakeClient, tmp_path: Path
) -> None:
    capture = {"sample_rate": 1.0, "store": tmp_path.as_uri(), "flush_seconds": 3600}
    client: TestClient = make_client(capture=capture)
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    answer = client.post(
        "/v2/models/iris/infer",
        json=infer_body(rows, id="r1", outputs=[{"name": "modelship_captured"}]),
    ).json()
    assert answer["outputs"][1]["data"] == [True, True]
    client.app.state.capture.flush()  # type: ignore[attr-defined]
    records = [r for _, recs in segments(DirectorySegmentStore(tmp_path), "captures") for r in recs]
    assert [r["id"] for r in records] == ["r1/0", "r1/1"]
    assert records[0]["inputs"]["sepal_length"] == 5.1
    assert records[1]["prediction"] == answer["outputs"][0]["data"][1]
    assert records[0]["version"] == 1 and records[0]["stage"] == "production"


def test_an_unreachable_store_never_fails_or_holds_a_request(make_client: MakeClient) -> None:
    capture = {
        "sample_rate": 1.0, "store": "oci://127.0.0.1:9/nowhere?plain-http=true",
        "flush_seconds": 0.05, "queue_rows": 10,
    }  # fmt: skip
    client: TestClient = make_client(capture=capture)
    rows = [[5.1, 3.5, 1.4, 0.2]] * 4
    started = time.perf_counter()
    for request in range(10):
        answer = client.post("/v2/models/iris/infer", json=infer_body(rows, id=f"u{request}"))
        assert answer.status_code == 200
    assert time.perf_counter() - started < 5.0  # ten requests, nothing waits for the store
    assert metric(client, "modelship_capture_dropped_rows_total") >= 30
