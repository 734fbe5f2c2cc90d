"""Peak memory of a million-row label file through the evaluation Job's path.

    .venv/bin/python bench/label_file_memory.py [--rows 1000000] [--captures 100000]

Writes a CSV of `--rows` labels (`request-<n>/0`, a class) and `--captures` captured predictions
(in segments, as inference pods write them), then measures with tracemalloc, as the Job runs it
(`monitoring.evaluation.run` with the file in the plan):

1. ingestion alone (`label_ingest.ingest_label_files`): the file streamed, parsed, spooled and
   stored as label segments; this must not grow with the file;
2. the whole run: ingestion, then the join reading back every label segment (the join keeps one
   record per distinct labelled id, `BYTES_PER_ROW` at most, and every kept capture);
3. the same run again: the content is already stored, so it is read and hashed but not stored.

Reported: peaks in MiB, bytes per label row of the whole run, wall time, the process's maximum
RSS (tracemalloc's own bookkeeping included). `--rss-only` runs the whole run once without
tracemalloc and reports the process's maximum RSS: what the Job's memory limit sees. Figures
are for the notes, never asserted here (tests/unit/monitoring/test_label_ingest.py bounds
ingestion; test_evaluation_run.py bounds the join per row). The Job's memory limit is
`operator/deployment/builders/evaluation.MEMORY_LIMIT` (2 GiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelship.catalog.segments import DirectorySegmentStore, encode_segment, segment_name
from modelship.contracts.evaluation import EvaluationPlan, LabelFile
from modelship.monitoring.evaluation import run
from modelship.monitoring.label_ingest import ingest_label_files
from modelship.monitoring.label_sources import SourceLimits

NOW = 1_800_000_000.0
DIGEST = "sha256:" + "a" * 64
LIMITS = SourceLimits(1 << 31, 600.0)
MIB = 1 << 20


def write_inputs(work: Path, rows: int, captures: int) -> tuple[str, DirectorySegmentStore]:
    path = work / "labels.csv"
    with path.open("w") as out:
        out.write("prediction_id,outcome\n")
        for i in range(rows):
            out.write(f"request-{i:08d}/0,{i % 3}\n")
    store = DirectorySegmentStore(work / "store")
    for seq, start in enumerate(range(0, captures, 5000)):
        records = [
            {"id": f"request-{i:08d}/0", "ts": NOW - 600, "model": "iris", "version": 2,
             "digest": DIGEST, "stage": "production", "inputs": {"x": [1.0, 2.0, 3.0, 4.0]},
             "prediction": (i + (i % 5 == 0)) % 3}
            for i in range(start, min(start + 5000, captures))
        ]  # fmt: skip
        name = segment_name("captures", "bench", seq, datetime.fromtimestamp(NOW - 600, UTC))
        store.write(name, encode_segment(records), {})
    return path.as_uri(), store


def measured(step: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, peak MiB, seconds) of one step under tracemalloc."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / MIB, time.perf_counter() - started


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="modelship-label-bench-") as work:
        return measure(Path(work))


def measure(work: Path) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--captures", type=int, default=100_000)
    parser.add_argument("--rss-only", action="store_true")
    args = parser.parse_args()
    uri, store = write_inputs(work, args.rows, args.captures)
    file = LabelFile(uri=uri, id_column="prediction_id", label_column="outcome")
    plan = EvaluationPlan(
        model="iris", namespace="ml", task="classification", store=store.root.as_uri(),
        catalog_root="/catalog", versions=[{"version": 2, "digest": DIGEST, "role": "production"}],
        label_files=[file],
    )  # fmt: skip
    if args.rss_only:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        report = run(plan, store, NOW, LIMITS)
        print(json.dumps({
            "rows": args.rows, "captures": args.captures, "labels": report.labels,
            "seconds": round(time.perf_counter() - started, 1),
            "max_rss_mib_before_run": round(before, 1),
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }))  # fmt: skip
        return 0
    scratch = DirectorySegmentStore(work / "ingest-only")
    (ingested,), ingest_peak, ingest_seconds = measured(
        lambda: ingest_label_files(
            [file], scratch, NOW, task="classification", sample_rate=1.0, limits=LIMITS
        )
    )
    report, run_peak, run_seconds = measured(lambda: run(plan, store, NOW, LIMITS))
    again, again_peak, again_seconds = measured(lambda: run(plan, store, NOW + 60, LIMITS))
    production = report.versions[0]
    print(json.dumps({
        "rows": args.rows,
        "captures": args.captures,
        "file_mib": round(Path(uri.removeprefix("file://")).stat().st_size / MIB, 1),
        "ingest": {"outcome": ingested.outcome, "accepted": ingested.accepted,
                   "peak_mib": round(ingest_peak, 1), "seconds": round(ingest_seconds, 1)},
        "run": {"outcome": report.label_files[0].outcome, "labels": report.labels,
                "labelled": production.labelled, "value": production.value,
                "peak_mib": round(run_peak, 1), "seconds": round(run_seconds, 1),
                "bytes_per_label_row": round(run_peak * MIB / args.rows)},
        "run_again": {"outcome": again.label_files[0].outcome, "peak_mib": round(again_peak, 1),
                      "seconds": round(again_seconds, 1)},
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
