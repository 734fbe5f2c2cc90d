"""Label files into label segments: read as a stream, stored once per content.

The evaluation Job reads every label file the Model names (`spec.monitoring.labels.files`) at
each run and, when its content is new, stores its labels as label segments beside the feedback
route's, so the labels never live only in this process and every later evaluation joins them
the same way (`catalog.segments`). Why it is built this way:

- **Bounded memory.** The file arrives in chunks and is parsed row by row
  (`label_files.read_label_csv`); accepted labels are encoded into segments of `SEGMENT_ROWS`
  and spooled to the Job's scratch directory as they fill. Memory is one segment's records,
  whatever the file's size (measured by bench/label_file_memory.py).
- **Once per content.** Whether this content was stored is known only once every byte has been
  hashed, so the segments wait in the spool until then. They are stored under a writer name
  derived from the content digest and the two column names (`ingestion_writer`), followed by an
  empty marker segment (sequence 0): a file whose marker exists is `unchanged` and nothing is
  written. A run that dies before the marker leaves segments that the next run repeats; the
  join keeps the last label of an id, so a repeat changes no figure. A file that changes is
  stored again whole (its digest differs): the join de-duplicates again.
- **Never fatal.** Rows that cannot be labels are counted by reason; a file that cannot be read
  (missing, HTTP error, too large, not UTF-8 CSV, no such column) or stored is reported with its
  reason, and the evaluation goes on with the labels it has.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from modelship.api.v1alpha1 import LabelFileStatus, Task
from modelship.api.v1alpha1.performance import MAX_LABEL_FILE_ERROR_CHARS
from modelship.catalog.errors import CatalogError
from modelship.catalog.segments import SegmentName, SegmentStore, encode_segment
from modelship.contracts.evaluation import LabelFile
from modelship.monitoring.label_files import LabelFileError, LabelFileReport, read_label_csv
from modelship.monitoring.label_sources import CHUNK_BYTES, SourceLimits, label_chunks
from modelship.sources import HashingReader

SEGMENT_ROWS: Final = 5000
"""Labels per stored segment: the feedback route's largest body is 10,000; the capture writer's
default segment is 5,000 rows. One segment's records is what ingestion holds in memory."""
MARKER_SEQ: Final = 0
SOURCE: Final = "label-file"


def ingestion_writer(digest: str, id_column: str, label_column: str) -> str:
    """The writer name of one content read with one pair of columns (a valid segment writer:
    lowercase, at most 63 characters)."""
    key = hashlib.sha256(f"{digest}\n{id_column}\n{label_column}".encode()).hexdigest()
    return f"labelfile-{key[:53]}"


def ingest_label_files(
    files: list[LabelFile],
    store: SegmentStore,
    now: float,
    *,
    task: Task,
    sample_rate: float,
    limits: SourceLimits,
) -> list[LabelFileStatus]:
    """Read each file and store its labels unless this content was stored before."""
    if not files:
        return []
    if sample_rate <= 0:
        why = "capture is off (spec.monitoring.capture.sampleRate is 0): no label can join"
        return [_failed(file, why) for file in files]
    try:
        stored = {(name.writer, name.seq) for name in store.names("labels")}
    except CatalogError as exc:
        return [_failed(file, f"the label store is unreachable: {exc}") for file in files]
    written = datetime.fromtimestamp(now, UTC)
    results: list[LabelFileStatus] = []
    for file in files:
        results.append(_ingest(file, store, stored, written, task=task, sample_rate=sample_rate,
                               limits=limits))  # fmt: skip
    return results


def _ingest(
    file: LabelFile,
    store: SegmentStore,
    stored: set[tuple[str, int]],
    written: datetime,
    *,
    task: Task,
    sample_rate: float,
    limits: SourceLimits,
) -> LabelFileStatus:
    report = LabelFileReport()
    with tempfile.TemporaryDirectory(prefix="modelship-labels-") as scratch:
        spool = Path(scratch)
        try:
            digest, parts = _spool(file, spool, written.timestamp(), task, sample_rate, limits,
                                   report)  # fmt: skip
        except LabelFileError as exc:
            return _failed(file, str(exc), report)
        except OSError as exc:
            return _failed(file, f"cannot spool its labels to scratch space: {exc}", report)
        writer = ingestion_writer(digest, file.id_column, file.label_column)
        outcome = "unchanged" if (writer, MARKER_SEQ) in stored else "ingested"
        if outcome == "ingested":
            try:
                _store(store, spool, parts, writer, written, digest)
            except (CatalogError, OSError) as exc:
                return _failed(file, f"cannot store its labels: {exc}", report, digest)
            stored.add((writer, MARKER_SEQ))
    return LabelFileStatus(
        uri=file.uri,
        outcome=outcome,
        digest=digest,
        rows=report.rows,
        accepted=report.accepted,
        refused=dict(sorted(report.refused.items())),
    )


def _spool(
    file: LabelFile,
    spool: Path,
    ts: float,
    task: Task,
    sample_rate: float,
    limits: SourceLimits,
    report: LabelFileReport,
) -> tuple[str, list[int]]:
    """Parse the file into encoded segments under `spool`; (its digest, rows per segment)."""
    raw = HashingReader(label_chunks(file.uri, limits))
    text = io.TextIOWrapper(io.BufferedReader(raw, CHUNK_BYTES), encoding="utf-8-sig", newline="")
    records = read_label_csv(
        text,
        id_column=file.id_column,
        label_column=file.label_column,
        numeric=task == "regression",
        ts=ts,
        source=SOURCE,
        report=report,
        sample_rate=sample_rate,
    )
    parts: list[int] = []
    batch: list[dict[str, Any]] = []
    try:
        for record in records:
            batch.append(record)
            if len(batch) == SEGMENT_ROWS:
                _spill(spool, parts, batch)
                batch = []
    except (csv.Error, UnicodeDecodeError) as exc:
        raise LabelFileError(f"not a UTF-8 CSV file: {exc}") from None
    if batch:
        _spill(spool, parts, batch)
    return raw.digest(), parts


def _spill(spool: Path, parts: list[int], batch: list[dict[str, Any]]) -> None:
    (spool / str(len(parts) + 1)).write_bytes(encode_segment(batch))
    parts.append(len(batch))


def _store(
    store: SegmentStore, spool: Path, parts: list[int], writer: str, written: datetime,
    digest: str,
) -> None:  # fmt: skip
    """The spooled segments, then the marker that says this content is stored."""
    for seq, rows in enumerate(parts, start=1):
        name = SegmentName(written, writer, seq, "labels")
        store.write(name, (spool / str(seq)).read_bytes(), _annotations(rows, digest))
    marker = SegmentName(written, writer, MARKER_SEQ, "labels")
    store.write(marker, encode_segment([]), _annotations(0, digest))


def _annotations(rows: int, digest: str) -> dict[str, str]:
    return {"io.modelship.rows": str(rows), "io.modelship.label-file": digest}


def _failed(
    file: LabelFile, why: str, report: LabelFileReport | None = None, digest: str | None = None
) -> LabelFileStatus:
    report = report or LabelFileReport()
    return LabelFileStatus(
        uri=file.uri,
        outcome="failed",
        digest=digest,
        rows=report.rows,
        accepted=0,
        refused=dict(sorted(report.refused.items())),
        error=why[:MAX_LABEL_FILE_ERROR_CHARS],
    )
