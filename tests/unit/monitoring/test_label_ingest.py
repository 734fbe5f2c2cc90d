"""Label files in the evaluation Job: read, stored as label segments once per content, joined.

What the wiring must get right: a file's labels land in the store (not only in memory) and the
same run's join counts them; the same content is never stored twice, a changed one is; refused
rows are counted by reason; a file that cannot be read (missing, a missing column, not UTF-8, an
HTTP error, too large, an unreachable store, capture off) is reported with its reason and the
evaluation still reports; http(s) files stream like file ones; the entry point reads the files
from the operator's plan; ingestion's memory does not grow with the file.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from modelship.catalog.segments import (
    DirectorySegmentStore,
    encode_segment,
    segment_name,
    segments,
)
from modelship.contracts.capture import sampled
from modelship.contracts.evaluation import (
    EvaluationEnv,
    EvaluationPlan,
    EvaluationReport,
    LabelFile,
)
from modelship.monitoring.__main__ import main
from modelship.monitoring.evaluation import run
from modelship.monitoring.label_ingest import (
    MARKER_SEQ,
    SEGMENT_ROWS,
    ingest_label_files,
    ingestion_writer,
)
from modelship.monitoring.label_sources import SourceLimits

NOW = 1_800_000_000.0
PROD = "sha256:" + "a" * 64
LIMITS = SourceLimits(1 << 30, 30.0)
CSV = (
    "\ufeffprediction_id,outcome,note\n"
    "r0,0,a\n"
    "r1,1,b\n"
    "r2,1,wrong\n"  # predicted 0
    "r3,1,b\n"
    ",1,no id\n"
    "r4,,no label\n"
    "short\n"
)


def capture(row: str, prediction: int) -> dict[str, Any]:
    return {"id": row, "ts": NOW - 600, "model": "iris", "version": 2, "digest": PROD,
            "stage": "production", "inputs": {"x": [1.0]}, "prediction": prediction}  # fmt: skip


def plan(tmp_path: Path, **overrides: Any) -> EvaluationPlan:
    values: dict[str, Any] = {
        "model": "iris", "namespace": "ml", "task": "classification",
        "store": (tmp_path / "store").as_uri(), "catalog_root": "/catalog",
        "versions": [{"version": 2, "digest": PROD, "role": "production"}],
    }  # fmt: skip
    return EvaluationPlan.model_validate(values | overrides)


def file_plan(tmp_path: Path, uri: str, **overrides: Any) -> EvaluationPlan:
    files = [{"uri": uri, "id_column": "prediction_id", "label_column": "outcome"}]
    return plan(tmp_path, label_files=files, **overrides)


@pytest.fixture
def store(tmp_path: Path) -> DirectorySegmentStore:
    store = DirectorySegmentStore(tmp_path / "store")
    records = [capture(f"r{i}", i % 2) for i in range(6)]
    name = segment_name("captures", "w", 0, datetime.fromtimestamp(NOW - 600, UTC))
    store.write(name, encode_segment(records), {})
    return store


def label_file(tmp_path: Path, text: str = CSV, name: str = "labels.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path.as_uri()


def stored_labels(store: DirectorySegmentStore) -> list[dict[str, Any]]:
    return [record for _, records in segments(store, "labels") for record in records]


def test_a_files_labels_are_stored_and_joined_in_the_same_run(
    store: DirectorySegmentStore, tmp_path: Path
) -> None:
    uri = label_file(tmp_path)
    report = run(file_plan(tmp_path, uri, store=store.root.as_uri()), store, NOW, LIMITS)
    assert report.versions is not None
    production = report.versions[0]
    assert (production.labelled, production.captured, production.value) == (4, 6, 0.75)
    (result,) = report.label_files or []
    digest = "sha256:" + hashlib.sha256(CSV.encode()).hexdigest()
    assert (result.uri, result.outcome, result.digest) == (uri, "ingested", digest)
    assert (result.rows, result.accepted) == (7, 4)
    assert result.refused == {"malformed_id": 1, "malformed_label": 1, "short_row": 1}
    labels = stored_labels(store)
    assert [r["id"] for r in labels] == ["r0", "r1", "r2", "r3"]
    assert {r["source"] for r in labels} == {"label-file"} and {r["ts"] for r in labels} == {NOW}
    writer = ingestion_writer(digest, "prediction_id", "outcome")
    names = store.names("labels")
    assert {n.writer for n in names} == {writer} and MARKER_SEQ in {n.seq for n in names}


def test_the_same_content_is_stored_once_and_a_changed_one_again(
    store: DirectorySegmentStore, tmp_path: Path
) -> None:
    uri = label_file(tmp_path)
    plan_ = file_plan(tmp_path, uri, store=store.root.as_uri())
    run(plan_, store, NOW, LIMITS)
    first = sorted(store.names("labels"))
    again = run(plan_, store, NOW + 60, LIMITS)
    assert sorted(store.names("labels")) == first
    assert again.label_files is not None and again.label_files[0].outcome == "unchanged"
    assert again.versions is not None and again.versions[0].labelled == 4  # still joined
    label_file(tmp_path, CSV.replace("r3,1,b", "r3,0,corrected"))
    changed = run(plan_, store, NOW + 120, LIMITS)
    assert changed.label_files is not None and changed.label_files[0].outcome == "ingested"
    assert len(store.names("labels")) == 2 * len(first)
    assert changed.versions is not None
    assert (changed.versions[0].labelled, changed.versions[0].value) == (4, 0.5)  # last label wins


def test_other_columns_of_the_same_content_are_another_ingestion(tmp_path: Path) -> None:
    digest = "sha256:" + "0" * 64
    writer = ingestion_writer(digest, "id", "label")
    assert writer != ingestion_writer(digest, "id", "other")
    assert len(writer) <= 63 and writer == writer.lower()


def test_rows_outside_the_capture_sample_are_refused_as_unknown_ids(
    store: DirectorySegmentStore, tmp_path: Path
) -> None:
    rows = [f"id-{i}" for i in range(200)]
    uri = label_file(tmp_path, "prediction_id,outcome\n" + "".join(f"{r},1\n" for r in rows))
    report = run(file_plan(tmp_path, uri, sample_rate=0.25), store, NOW, LIMITS)
    (result,) = report.label_files or []
    inside = sum(sampled(r, 0.25) for r in rows)
    assert 0 < inside < 200
    assert (result.accepted, result.refused) == (inside, {"unknown_id": 200 - inside})
    assert len(stored_labels(store)) == inside


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "does not exist"),
        ("id,label\nr0,1\n", "idColumn 'prediction_id' is not a column"),
        ("", "the label file is empty"),
        (b"prediction_id,outcome\nr0,\xff\xfe\n", "not a UTF-8 CSV file"),
    ],
)
def test_a_file_that_cannot_be_read_is_reported_and_the_evaluation_goes_on(
    store: DirectorySegmentStore, tmp_path: Path, content: str | bytes | None, why: str
) -> None:
    path = tmp_path / "labels.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    report = run(file_plan(tmp_path, path.as_uri()), store, NOW, LIMITS)
    (result,) = report.label_files or []
    assert result.outcome == "failed" and result.error is not None and why in result.error
    assert result.accepted == 0 and store.names("labels") == []
    assert report.versions is not None and report.versions[0].captured == 6
    assert EvaluationReport.from_message(report.to_message()) == report


def test_a_file_over_the_byte_limit_is_refused(
    store: DirectorySegmentStore, tmp_path: Path
) -> None:
    uri = label_file(tmp_path)
    report = run(file_plan(tmp_path, uri), store, NOW, SourceLimits(len(CSV) // 2, 30.0))
    (result,) = report.label_files or []
    assert result.outcome == "failed" and "byte limit" in (result.error or "")
    assert store.names("labels") == []


def test_capture_off_or_an_unreachable_store_fails_every_file(
    store: DirectorySegmentStore, tmp_path: Path
) -> None:
    files = [LabelFile(uri=label_file(tmp_path), id_column="prediction_id", label_column="outcome")]
    (off,) = ingest_label_files(files, store, NOW, task="classification", sample_rate=0.0,
                                limits=LIMITS)  # fmt: skip
    assert off.outcome == "failed" and "capture is off" in (off.error or "")
    broken = DirectorySegmentStore(tmp_path / "not-a-dir")
    (tmp_path / "not-a-dir").mkdir()
    (tmp_path / "not-a-dir" / "labels").write_text("a file where a directory should be")
    (down,) = ingest_label_files(files, broken, NOW, task="classification", sample_rate=1.0,
                                 limits=LIMITS)  # fmt: skip
    assert down.outcome == "failed" and "label store is unreachable" in (down.error or "")


def test_a_regressors_labels_are_numbers(tmp_path: Path) -> None:
    store = DirectorySegmentStore(tmp_path / "store")
    uri = label_file(tmp_path, "prediction_id,outcome\nr0,1.5\nr1,nan\nr2,x\n")
    files = [LabelFile(uri=uri, id_column="prediction_id", label_column="outcome")]
    (result,) = ingest_label_files(files, store, NOW, task="regression", sample_rate=1.0,
                                   limits=LIMITS)  # fmt: skip
    assert (result.accepted, result.refused) == (1, {"malformed_label": 2})
    assert [r["label"] for r in stored_labels(store)] == [1.5]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The label file over HTTP from a local server (its own thread, stopped afterwards)."""
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "labels.csv").write_text(CSV)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "web"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_label_file_is_streamed_and_an_http_error_reported(
    store: DirectorySegmentStore, tmp_path: Path, served: str
) -> None:
    report = run(file_plan(tmp_path, f"{served}/labels.csv"), store, NOW, LIMITS)
    (result,) = report.label_files or []
    assert (result.outcome, result.accepted) == ("ingested", 4)
    assert result.digest == "sha256:" + hashlib.sha256(CSV.encode()).hexdigest()
    missing = run(file_plan(tmp_path, f"{served}/gone.csv"), store, NOW, LIMITS)
    (gone,) = missing.label_files or []
    assert gone.outcome == "failed" and "HTTP 404" in (gone.error or "")


def test_the_entry_point_reads_the_files_of_the_plan(
    store: DirectorySegmentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "termination"
    plan_ = file_plan(tmp_path, label_file(tmp_path), store=store.root.as_uri())
    env = EvaluationEnv(plan=plan_, termination_message_path=str(path), now=NOW)
    for entry in env.to_env():
        monkeypatch.setenv(entry["name"], entry["value"])
    assert main() == 0
    report = EvaluationReport.from_message(path.read_text())
    assert report is not None and report.label_files is not None
    assert report.label_files[0].outcome == "ingested"
    assert report.versions is not None and report.versions[0].labelled == 4


def test_the_fullest_report_fits_a_termination_message(tmp_path: Path) -> None:
    store = DirectorySegmentStore(tmp_path / "store")
    long_path = "http://127.0.0.1:1/" + "x" * 230  # nothing listens on port 1: refused at once
    files = [{"uri": f"{long_path}/{i}.csv", "id_column": "i", "label_column": "l"}
             for i in range(4)]  # fmt: skip
    versions = [
        {"version": 2, "digest": PROD, "role": "production"},
        {"version": 3, "digest": "sha256:" + "b" * 64, "role": "canary"},
        {"version": 4, "digest": "sha256:" + "e" * 64, "role": "shadow"},
    ]
    report = run(plan(tmp_path, label_files=files, versions=versions), store, NOW,
                 SourceLimits(1 << 20, 0.5))  # fmt: skip
    assert report.label_files is not None and all(f.error for f in report.label_files)
    full = report.model_copy(update={"label_files": [
        f.model_copy(update={"error": "e" * 200, "digest": "sha256:" + "f" * 64,
                             "refused": {"short_row": 10**9, "malformed_id": 10**9,
                                         "malformed_label": 10**9, "unknown_id": 10**9}})
        for f in report.label_files
    ]})  # fmt: skip
    assert len(full.to_message().encode()) < 4096


def rows_file(tmp_path: Path, rows: int) -> str:
    path = tmp_path / f"labels-{rows}.csv"
    with path.open("w") as out:
        out.write("prediction_id,outcome\n")
        for i in range(rows):
            out.write(f"request-{i:08d}/0,{i % 3}\n")
    return path.as_uri()


def peak_of_ingesting(tmp_path: Path, rows: int) -> int:
    store = DirectorySegmentStore(tmp_path / f"store-{rows}")
    files = [LabelFile(uri=rows_file(tmp_path, rows), id_column="prediction_id",
                       label_column="outcome")]  # fmt: skip
    tracemalloc.start()
    try:
        (result,) = ingest_label_files(files, store, NOW, task="classification", sample_rate=1.0,
                                       limits=LIMITS)  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.accepted == rows
    return peak


def test_ingesting_holds_one_segment_whatever_the_files_size(tmp_path: Path) -> None:
    small = peak_of_ingesting(tmp_path, 2 * SEGMENT_ROWS)
    large = peak_of_ingesting(tmp_path, 12 * SEGMENT_ROWS)
    assert large < 1.3 * small + (1 << 20)  # six times the rows, not six times the memory
    assert large < 16 << 20
