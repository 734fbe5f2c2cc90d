"""Labelled production rows for training, the pure parts and the reading: the join of captures
with labels (production stage only, last label wins, window), the holdout of the newest labelled
window, the row cap, the conversion into dataset columns (refusals by reason), and the live gate's
decision table."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelship.api.v1alpha1 import ProductionDataSpec
from modelship.catalog.segments import DirectorySegmentStore, encode_segment, segment_name
from modelship.training.production import (
    LabelledRow,
    live_gate,
    read_labelled,
    rows_digest,
    select,
    to_columns,
)

NOW = 1_800_000_000.0
DAY = 86_400.0


def capture(row: str, ts: float, stage: str = "production", **inputs: Any) -> dict[str, Any]:
    return {
        "id": row, "ts": ts, "model": "iris", "version": 1, "digest": "sha256:" + "a" * 64,
        "stage": stage, "inputs": inputs or {"a": 1.0, "b": 2.0}, "prediction": 0, "proba": None,
    }  # fmt: skip


def label(row: str, value: Any, ts: float) -> dict[str, Any]:
    return {"id": row, "ts": ts, "label": value, "source": "test"}


def put(store: DirectorySegmentStore, kind: str, records: list[dict[str, Any]], at: float,
        seq: int = 0) -> None:  # fmt: skip
    name = segment_name(kind, "w", seq, datetime.fromtimestamp(at, UTC))  # type: ignore[arg-type]
    store.write(name, encode_segment(records), {})


def row(i: int, ts: float, label_value: Any = 1, **inputs: Any) -> LabelledRow:
    return LabelledRow(f"r{i}", ts, inputs or {"a": float(i), "b": 1.0}, label_value)


def test_reading_joins_production_captures_with_their_latest_label(tmp_path: Path) -> None:
    store = DirectorySegmentStore(tmp_path)
    put(store, "captures", [
        capture("old", NOW - 40 * DAY),          # before the window
        capture("p1", NOW - 3 * DAY, a=1.0, b=5.0),
        capture("p2", NOW - 2 * DAY),
        capture("t1", NOW - 2 * DAY, stage="test"),  # the acceptance Job's: not production
        capture("unlabelled", NOW - DAY),
        {"id": "", "broken": True},                  # damaged: counted
    ], NOW - DAY)  # fmt: skip
    put(store, "captures", [capture("old", NOW - 41 * DAY)], NOW - 41 * DAY, seq=1)
    put(store, "labels", [label("p1", 0, NOW - 2 * DAY), label("p2", 1, NOW - DAY),
                          label("t1", 1, NOW - DAY), label("old", 1, NOW - DAY)],
        NOW - DAY)  # fmt: skip
    put(store, "labels", [label("p1", 2, NOW - 600)], NOW - 600, seq=1)  # a correction

    reading = read_labelled(store, NOW - 30 * DAY, NOW)

    assert [(r.id, r.label) for r in reading.rows] == [("p1", 2), ("p2", 1)]
    assert reading.rows[0].inputs == {"a": 1.0, "b": 5.0}
    assert reading.counts.invalid == 1
    assert reading.counts.superseded_labels == 1
    # The segment written before the window is not even read.
    assert reading.captures.count == 1 and reading.labels.count == 2
    assert reading.labels.first is not None and reading.labels.first.startswith("labels-")
    assert reading.captures.digest.startswith("sha256:")


def test_newest_labelled_window_is_held_out_and_the_cap_keeps_the_newest() -> None:
    rows = [row(i, NOW - (10 - i) * DAY) for i in range(10)]  # r9 is the newest, a day ago
    spec = ProductionDataSpec(holdout_seconds=int(2 * DAY), max_rows=5)

    chosen = select(list(reversed(rows)), spec)

    # Held out: answered within two days of the newest labelled row (r7, r8, r9).
    assert [r.id for r in chosen.holdout] == ["r7", "r8", "r9"]
    assert chosen.holdout_from == NOW - 3 * DAY
    # Of the seven older rows, the newest five, oldest first; two capped.
    assert [r.id for r in chosen.train] == ["r2", "r3", "r4", "r5", "r6"]
    assert chosen.capped == 2
    assert not {r.id for r in chosen.train} & {r.id for r in chosen.holdout}


def test_holdout_zero_keeps_every_row_for_training_and_no_rows_select_nothing() -> None:
    rows = [row(i, NOW - i) for i in range(3)]
    chosen = select(rows, ProductionDataSpec(holdout_seconds=0))
    assert [r.id for r in chosen.train] == ["r2", "r1", "r0"] and chosen.holdout == []
    assert select([], ProductionDataSpec()).train == []


def test_columns_by_feature_name_with_refusals_counted() -> None:
    rows = [
        row(0, 1.0, 1, a=1.5, b=2.0, extra=9.0),  # extra inputs are ignored
        row(1, 2.0, 7, a=1.0, b=2.0),  # a class the dataset does not have
        row(2, 3.0, 0, a=1.0),  # b was not captured (excluded)
        row(3, 4.0, 0.0, a=None, b=3.0),  # a gap: untyped features have no word for it
        row(4, 5.0, "1", a=2.0, b={"x": 1}),  # not a cell
        row(5, 6.0, "1", a=3.0, b=4.0),  # the class "1" is the dataset's 1
    ]
    refused: Counter[str] = Counter()
    columns, kept = to_columns(rows, features=["a", "b"], target="target",
                               task="classification", classes=[0, 1], missing_token=None,
                               refused=refused)  # fmt: skip
    assert [r.id for r in kept] == ["r0", "r5"]
    assert columns["a"].tolist() == [1.5, 3.0]
    assert columns["target"].tolist() == [1, "1"]
    assert refused == Counter(unknown_class=1, missing_feature=1, missing_value=1,
                              malformed_input=1)  # fmt: skip


def test_typed_gaps_become_the_datasets_missing_word_and_regression_labels_are_numbers() -> None:
    rows = [row(0, 1.0, "12.5", a=None, b="x"), row(1, 2.0, "n/a", a=1.0, b="y"),
            row(2, 3.0, True, a=1.0, b="y"), row(3, 4.0, 3, a=2.0, b=None)]  # fmt: skip
    refused: Counter[str] = Counter()
    columns, kept = to_columns(rows, features=["a", "b"], target="y", task="regression",
                               classes=None, missing_token="", refused=refused)  # fmt: skip
    assert [r.id for r in kept] == ["r0", "r3"]
    assert columns["a"].tolist() == ["", 2.0]
    assert columns["b"].tolist() == ["x", ""]
    assert refused == Counter(malformed_label=2)


def test_rows_digest_names_the_rows_and_their_split() -> None:
    a, b = row(0, 1.0), row(1, 2.0)
    assert rows_digest([a], [b]) == rows_digest([a], [b])
    assert rows_digest([a], [b]) != rows_digest([a, b], [])
    assert rows_digest([a], [b]) != rows_digest([row(0, 1.0, 0)], [b])


LIVE_GATE_TABLE = [
    # metric, candidate, champion, version, rows, min rows -> passed, words in the reason
    ("accuracy", 0.90, 0.60, 3, 100, 30, True,
     ["candidate 0.9 >= 0.6 (production version 3 on 100 held-out"]),
    ("accuracy", 0.60, 0.60, 3, 100, 30, True, ["0.6 >= 0.6"]),  # as good is good enough
    ("accuracy", 0.55, 0.62, 3, 100, 30, False,
     ["live accuracy: candidate 0.55 is not >= 0.62 (production version 3 on 100 held-out"]),
    ("r2", 0.40, 0.70, 2, 50, 30, False, ["live r2", "0.4 is not >= 0.7"]),
    ("rmse", 3.0, 4.0, 2, 50, 30, True, ["3 <= 4 (production version 2"]),
    ("rmse", 5.0, 4.0, 2, 50, 30, False, ["5 is not <= 4"]),
    ("accuracy", 0.90, 0.60, 3, 10, 30, False,
     ["is not at least 30 held-out production row(s) (minHoldoutRows)", "found 10"]),
    ("accuracy", None, None, 3, 0, 0, True, ["at least 0 held-out", "found 0"]),
    ("accuracy", 0.80, None, None, 5, 30, True, ["no version in production"]),
    ("accuracy", None, 0.60, 3, 40, 30, False, ["candidate missing is not >= 0.6"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("metric", "candidate", "champion", "version", "rows", "min_rows", "passed", "words"),
    LIVE_GATE_TABLE,
)
def test_live_gate_decision_table(
    metric: str,
    candidate: float | None,
    champion: float | None,
    version: int | None,
    rows: int,
    min_rows: int,
    passed: bool,
    words: list[str],
) -> None:
    gate = live_gate(metric, candidate, champion, version, rows, min_rows)
    assert gate.passed is passed
    for word in words:
        assert word in gate.reason


def test_a_summary_with_production_lineage_fits_a_termination_message() -> None:
    """The lineage rides in the trainer's one-line summary: with long segment names, every
    refusal reason, a failed live gate and a full set of gates it stays under 4 KiB."""
    from modelship.api.v1alpha1 import GateResult
    from modelship.contracts.production_data import ProductionUse, SegmentSpan
    from modelship.contracts.training import TERMINATION_MESSAGE_LIMIT, TrainerSummary

    name = "captures-20261207T083000123456Z-" + "w" * 63 + "-123456"
    span = SegmentSpan(count=123456, first=name, last=name, digest="sha256:" + "f" * 64)
    gate = live_gate("balanced_accuracy", 0.123456, 0.654321, 123, 1_000_000, 30)
    used = ProductionUse(
        store="oci://registry.example.com:5000/" + "p" * 120 + "/team-a/churn-capture",
        window_from="2026-11-07T08:30:00Z", window_to="2026-12-07T08:30:00Z", weight=1000,
        rows=5_000_000, holdout_rows=1_000_000, holdout_from="2026-12-06T08:30:00Z",
        capped_rows=123_456_789,
        refused={r: 123_456 for r in ("malformed_input", "malformed_label", "missing_feature",
                                      "missing_value", "unknown_class",
                                      "unreadable_by_production")},
        rows_digest="sha256:" + "e" * 64, captures=span, labels=span, live_gate=gate,
    )  # fmt: skip
    metrics = {m: 0.123456789 for m in ("accuracy", "balanced_accuracy", "f1_macro",
                                        "precision_macro", "recall_macro", "roc_auc")}  # fmt: skip
    gates = [GateResult(metric=m, value=0.1, bound=">= 0.9 and <= 1", passed=False)
             for m in metrics]  # fmt: skip
    gates.append(GateResult(metric="live accuracy", value=0.12, bound=gate.bound, passed=False))
    summary = TrainerSummary(
        version=123456, digest="sha256:" + "d" * 64, metrics=metrics, gates=gates,
        gates_passed=False, artifact_uri="oci://registry.example.com:5000/" + "p" * 120
        + "/team-a/churn@sha256:" + "a" * 64, dataset_digest="sha256:" + "c" * 64,
        production=used,
    )  # fmt: skip
    line = summary.termination_line()
    assert len(line.encode()) < TERMINATION_MESSAGE_LIMIT
    assert TrainerSummary.from_termination_message(line) == summary


def test_reading_memory_grows_with_labelled_rows_only(tmp_path: Path) -> None:
    """Labels are read first and only labelled captures are kept with their inputs: 20,000
    labelled rows of 10 features peak at about 2.5 KB each (one segment in flight included);
    as many unlabelled captures again add a segment's worth, not a row's each."""
    import tracemalloc

    store = DirectorySegmentStore(tmp_path)
    names = [f"f{i}" for i in range(10)]
    for seg in range(8):
        rows = []
        for i in range(5000):
            inputs = {name: float(i + j) for j, name in enumerate(names)}
            rows.append(capture(f"r{seg}-{i}", NOW - 3600 + i * 0.1, **inputs))
        put(store, "captures", rows, NOW - 3600, seq=seg)
        if seg < 4:
            put(store, "labels", [label(r["id"], 1, NOW - 60) for r in rows], NOW - 60, seq=seg)
    tracemalloc.start()
    try:
        reading = read_labelled(store, NOW - DAY, NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(reading.rows) == 20_000
    assert peak / len(reading.rows) < PEAK_BYTES_PER_LABELLED_ROW


PEAK_BYTES_PER_LABELLED_ROW = 4096
"""Bound of the reading's peak per labelled row with 10 features (measured ~2.5 KB): the
trainer's default 1 GiB limit holds a few hundred thousand labelled rows in the window."""
