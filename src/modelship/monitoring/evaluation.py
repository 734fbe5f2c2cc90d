"""One evaluation run: stream a model's segments, join them, and total per served version.

The Job (`python -m modelship.monitoring`) calls `run` with the operator's plan and the capture
store. It first stores the labels of the label files the Model names (`label_ingest.py`: each
streamed, stored as label segments once per content digest), so the join below reads them like
the feedback route's; everything else here is what keeps the run's memory bounded:

- segments are read one at a time (`catalog.segments.segments`), and a segment is at most the
  writer's `segment_rows` records (5,000 by default), so reading costs one segment;
- segments written before the window cannot hold rows of it (a row is written after it is
  answered), so they are not even downloaded;
- a capture keeps only what the join compares (id, time, version, digest, stage, prediction):
  its inputs and probabilities are dropped as it is read, and captures of versions this
  Deployment does not serve (or of a stage other than the one serving it in its role, such as
  the acceptance Job's requests to the test stage) are not kept at all.

So memory grows with the captured rows of the served versions in the window (C) and the label
records in it (L), and with nothing else: about 1 KiB each (measured: 1,050 bytes per row at
20,000 captures and 20,000 labels, one segment in flight included), held under
`BYTES_PER_ROW` by tests/unit/monitoring/test_evaluation_run.py. A million captures and a million
labels thus need about 2 GiB, the Job's memory limit (operator/deployment/builders/evaluation.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from modelship.api.v1alpha1 import LiveMetric, ServedRole
from modelship.api.v1alpha1.base import rfc3339
from modelship.catalog.segments import SegmentStore, segments
from modelship.contracts.capture import SegmentKind
from modelship.contracts.evaluation import (
    EvaluationPlan,
    EvaluationReport,
    ServedVersion,
    VersionTotals,
)
from modelship.monitoring.join import DEFAULT_METRIC, VersionPerformance, evaluate
from modelship.monitoring.label_ingest import ingest_label_files
from modelship.monitoring.label_sources import SourceLimits

STAGE_OF_ROLE: Final[dict[ServedRole, str]] = {
    "production": "production",
    "canary": "production",
    "shadow": "test",
}
"""The stage a role's pods capture under: canary pods are production pods of another version,
and the shadow is the test stage answering mirrored requests. So the acceptance Job's requests
to the test stage never count as production's, though it is the same version."""
BYTES_PER_ROW: Final = 1536
"""Upper bound of the memory one kept capture or label costs the join."""
_KEPT = ("id", "ts", "model", "version", "digest", "stage", "prediction")


@dataclass
class _Reading:
    segments: int = 0


def run(
    plan: EvaluationPlan, store: SegmentStore, now: float, limits: SourceLimits | None = None
) -> EvaluationReport:
    """Per-version totals of the plan's served versions, as of `now` (Unix seconds), after
    storing the labels of the plan's label files (`limits`: how much of one is read)."""
    files = ingest_label_files(
        plan.label_files, store, now, task=plan.task, sample_rate=plan.sample_rate,
        limits=limits or SourceLimits(),
    )  # fmt: skip
    since = now - plan.window_seconds if plan.window_seconds is not None else None
    since_time = datetime.fromtimestamp(since, UTC) if since is not None else None
    served = {v.version: (v.digest, STAGE_OF_ROLE[v.role]) for v in plan.versions}
    reading = _Reading()
    metric = plan.metric or DEFAULT_METRIC[plan.task]
    result = evaluate(
        _captures(store, since_time, served, reading),
        _records(store, "labels", since_time, reading),
        task=plan.task,
        now=now,
        metric=metric,
        maturity_seconds=plan.maturity_seconds,
        since=since,
        confidence=plan.confidence,
    )
    found = {v.version: v for v in result.versions}
    return EvaluationReport(
        evaluated_at=rfc3339(datetime.fromtimestamp(now, UTC)),
        window_from=rfc3339(since_time) if since_time is not None else None,
        window_to=rfc3339(datetime.fromtimestamp(now - plan.maturity_seconds, UTC)),
        versions=[_totals(v, metric, found.get(v.version)) for v in plan.versions],
        segments=reading.segments,
        labels=result.labels,
        orphan_labels=result.orphan_labels,
        immature_captures=result.immature_captures,
        invalid_records=result.invalid_records,
        label_files=files or None,
    )


def _captures(
    store: SegmentStore,
    since: datetime | None,
    served: dict[int, tuple[str, str]],
    reading: _Reading,
) -> Iterator[dict[str, Any]]:
    """Captures of the served versions (matched by version, digest and the stage that served
    them in their role), without their inputs."""
    for record in _records(store, "captures", since, reading):
        version = record.get("version")
        if not isinstance(version, int):
            continue
        if served.get(version) != (record.get("digest"), record.get("stage")):
            continue
        kept = {key: record[key] for key in _KEPT if key in record}
        kept["inputs"] = {}
        yield kept


def _records(
    store: SegmentStore, kind: SegmentKind, since: datetime | None, reading: _Reading
) -> Iterator[dict[str, Any]]:
    for _, records in segments(store, kind, since):
        reading.segments += 1
        yield from records


def _totals(
    served: ServedVersion, metric: LiveMetric, measured: VersionPerformance | None
) -> VersionTotals:
    """A served version's totals; one with no capture in the window counts zero rows."""
    if measured is None:
        return VersionTotals(
            version=served.version, digest=served.digest, role=served.role,
            captured=0, labelled=0, coverage=0.0, metric=metric,
        )  # fmt: skip
    estimate = measured.estimate
    return VersionTotals(
        version=served.version,
        digest=served.digest,
        role=served.role,
        captured=measured.captured,
        labelled=measured.labelled,
        coverage=measured.coverage,
        metric=metric,
        value=estimate.value if estimate else None,
        low=estimate.low if estimate else None,
        high=estimate.high if estimate else None,
        method=estimate.method if estimate else None,
        confidence=estimate.confidence if estimate else None,
    )
