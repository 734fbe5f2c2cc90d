"""The evaluation Job's run: segments of a directory store in, per-version totals out.

What it must get right beyond the join (tested in test_evaluation_join.py): only the served
versions are kept and reported (matched by version and digest), segments older than the window
are not read, a served version without captures reports zeros, the report fits a termination
message and parses back with the operator's model, the entry point reports a bad store as an
error with exit 1, and memory stays within `BYTES_PER_ROW` per kept row.
"""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelship.catalog.segments import DirectorySegmentStore, encode_segment, segment_name
from modelship.contracts.evaluation import EvaluationEnv, EvaluationPlan, EvaluationReport
from modelship.monitoring.__main__ import main
from modelship.monitoring.evaluation import BYTES_PER_ROW, run

NOW = 1_800_000_000.0
PROD, CANARY = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def capture(
    row: str, version: int, digest: str, prediction: Any, ts: float, stage: str = "production"
) -> dict[str, Any]:
    return {
        "id": row, "ts": ts, "model": "iris", "version": version, "digest": digest,
        "stage": stage, "inputs": {"x": [1.0, 2.0, 3.0, 4.0]}, "prediction": prediction,
        "proba": [0.1, 0.9],
    }  # fmt: skip


def put(store: DirectorySegmentStore, kind: str, records: list[dict[str, Any]], at: float,
        seq: int = 0) -> None:  # fmt: skip
    name = segment_name(kind, "w", seq, datetime.fromtimestamp(at, UTC))  # type: ignore[arg-type]
    store.write(name, encode_segment(records), {})


def plan(store: Path, **overrides: Any) -> EvaluationPlan:
    values: dict[str, Any] = {
        "model": "iris", "namespace": "ml", "task": "classification", "store": store.as_uri(),
        "catalog_root": "/catalog",
        "versions": [
            {"version": 2, "digest": PROD, "role": "production"},
            {"version": 3, "digest": CANARY, "role": "canary"},
        ],
    }  # fmt: skip
    return EvaluationPlan.model_validate(values | overrides)


@pytest.fixture
def store(tmp_path: Path) -> DirectorySegmentStore:
    store = DirectorySegmentStore(tmp_path)
    recent = NOW - 600
    rows = [capture(f"r{i}", 2, PROD, i % 2, recent) for i in range(10)]
    rows += [capture("c0", 3, CANARY, 1, recent)]
    rows += [capture("old-digest", 2, "sha256:" + "c" * 64, 1, recent)]  # a re-published v2
    rows += [capture("other", 1, "sha256:" + "d" * 64, 0, recent)]  # not served here
    rows += [capture("accept-0", 2, PROD, 0, recent, stage="test")]  # acceptance, not production
    put(store, "captures", rows, recent)
    put(store, "captures", [capture("ancient", 2, PROD, 0, NOW - 86400)], NOW - 86400)
    # Labels: r0..r7 right except r6 and r7 (wrong), the canary's right, one for an unserved row.
    labels = [{"id": f"r{i}", "ts": NOW - 60, "label": str(i % 2)} for i in range(6)]
    labels += [{"id": "r6", "ts": NOW - 60, "label": "1"}, {"id": "r7", "ts": NOW - 60, "label": 0}]
    labels += [
        {"id": "c0", "ts": NOW - 60, "label": 1},
        {"id": "other", "ts": NOW - 60, "label": 0},
    ]
    put(store, "labels", labels, NOW - 60)
    return store


def test_totals_of_the_served_versions_only(store: DirectorySegmentStore, tmp_path: Path) -> None:
    report = run(plan(tmp_path), store, NOW)
    assert report.versions is not None
    production, canary = report.versions
    assert (production.version, production.role) == (2, "production")
    # 11 captures of v2 in store; the one of another digest is not this version.
    assert (production.captured, production.labelled) == (11, 8)
    assert production.value == pytest.approx(6 / 8)
    assert production.low is not None and production.high is not None
    assert production.low < 6 / 8 < production.high and production.method == "wilson"
    assert production.coverage == pytest.approx(8 / 11)
    assert (canary.captured, canary.labelled, canary.value) == (1, 1, 1.0)
    assert report.orphan_labels == 1  # "other": captured, but by a version not served here
    assert report.labels == 10 and report.segments == 3
    assert report.window_from is None and report.evaluated_at == "2027-01-15T08:00:00Z"


def test_segments_before_the_window_are_not_read(
    store: DirectorySegmentStore, tmp_path: Path
) -> None:
    report = run(plan(tmp_path, window_seconds=3600), store, NOW)
    assert report.segments == 2  # the day-old capture segment is skipped unread
    assert report.versions is not None and report.versions[0].captured == 10
    assert report.window_from == "2027-01-15T07:00:00Z"


def test_a_served_version_without_captures_reports_zero(tmp_path: Path) -> None:
    report = run(plan(tmp_path), DirectorySegmentStore(tmp_path), NOW)
    assert report.versions is not None
    assert [(v.captured, v.labelled, v.value) for v in report.versions] == [(0, 0, None)] * 2


def test_maturity_leaves_young_predictions_out(
    store: DirectorySegmentStore, tmp_path: Path
) -> None:
    report = run(plan(tmp_path, maturity_seconds=1200), store, NOW)
    assert report.immature_captures == 11 and report.versions is not None
    assert report.versions[0].captured == 1  # only the day-old one is mature


def test_a_regressor_reports_a_bootstrap_interval(tmp_path: Path) -> None:
    store = DirectorySegmentStore(tmp_path)
    put(store, "captures", [capture(f"r{i}", 2, PROD, float(i), NOW - 600) for i in range(30)],
        NOW - 600)  # fmt: skip
    put(store, "labels", [{"id": f"r{i}", "ts": NOW, "label": i + 2.0} for i in range(30)], NOW)
    report = run(plan(tmp_path, task="regression", metric="mae"), store, NOW)
    assert report.versions is not None
    production = report.versions[0]
    assert (production.metric, production.value, production.method) == ("mae", 2.0, "bootstrap")


def test_the_report_fits_a_termination_message(
    store: DirectorySegmentStore, tmp_path: Path
) -> None:
    versions = [
        {"version": 2, "digest": PROD, "role": "production"},
        {"version": 3, "digest": CANARY, "role": "canary"},
        {"version": 4, "digest": "sha256:" + "e" * 64, "role": "shadow"},
    ]
    report = run(plan(tmp_path, versions=versions), store, NOW)
    message = report.to_message()
    assert len(message.encode()) < 2048  # the kubelet keeps 4 KiB
    assert EvaluationReport.from_message(f"log line\n{message}") == report


def test_a_crash_message_becomes_an_error() -> None:
    report = EvaluationReport.from_message("Traceback ...\nMemoryError")
    assert report is not None and report.error is not None and "MemoryError" in report.error
    assert EvaluationReport.from_message("") is None


def test_the_entry_point_reports_through_the_termination_message(
    store: DirectorySegmentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "termination"
    env = EvaluationEnv(plan=plan(tmp_path), termination_message_path=str(path), now=NOW)
    for entry in env.to_env():
        monkeypatch.setenv(entry["name"], entry["value"])
    assert main() == 0
    report = EvaluationReport.from_message(path.read_text())
    assert report is not None and report.versions is not None and report.versions[0].labelled == 8


def test_an_unreadable_store_is_an_error_with_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "captures").write_text("a file where a directory should be")
    path = tmp_path / "termination"
    env = EvaluationEnv(plan=plan(tmp_path), termination_message_path=str(path), now=NOW)
    for entry in env.to_env():
        monkeypatch.setenv(entry["name"], entry["value"])
    assert main() == 1
    report = EvaluationReport.from_message(path.read_text())
    assert report is not None and report.versions is None
    assert report.error is not None and "cannot list segments" in report.error


def test_a_metric_that_does_not_fit_the_task_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not apply to classification"):
        run(plan(tmp_path, metric="mae"), DirectorySegmentStore(tmp_path), NOW)


def test_memory_stays_within_the_bound_per_row(tmp_path: Path) -> None:
    rows = 20_000
    store = DirectorySegmentStore(tmp_path)
    for seq, start in enumerate(range(0, rows, 5000)):
        ids = [f"request-{i:08d}/0" for i in range(start, start + 5000)]
        captures = [capture(row, 2, PROD, int(row[8:16]) % 3, NOW - 600) for row in ids]
        put(store, "captures", captures, NOW - 600, seq)
        put(store, "labels", [
            {"id": f"request-{i:08d}/0", "ts": NOW, "label": str(i % 3), "source": "crm"}
            for i in range(start, start + 5000)
        ], NOW, seq)  # fmt: skip
    tracemalloc.start()
    try:
        report = run(plan(tmp_path), store, NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.versions is not None and report.versions[0].labelled == rows
    per_row = peak / (2 * rows)
    print(json.dumps({"rows": 2 * rows, "peak_bytes": peak, "bytes_per_row": round(per_row)}))
    assert per_row < BYTES_PER_ROW
