"""Join captured predictions with labels and measure each served version (pure).

Rules, each for a reason (the first two, and the counting of invalid records, are shared with
the trainer's production rows: `catalog.labelled`):
- A prediction id is captured once per version; a retry of the same request under the same
  version repeats it (same id, same answer), so the last capture of an id wins.
- The last label of an id wins (by arrival time): corrections are how labellers fix mistakes.
- Captures younger than `maturity_seconds` are left out (counted as immature): their labels may
  still be on their way, and counting them unlabelled would bias coverage, as SageMaker's
  ground-truth offsets do for the same reason.
- A label whose id has no capture at all is an orphan (counted, never joined): a typo, a row
  outside the sample, or a capture already past retention.
- Records that do not validate are counted and skipped: a damaged line never stops an
  evaluation.
Totals are per version (production, canary and shadow alike); coverage per predicted class is
reported because labels that arrive only for some decisions bias the metric (selective labels).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from modelship.catalog.labelled import JoinCounts, latest_captures, latest_labels
from modelship.contracts.capture import CaptureRecord, LabelRecord
from modelship.monitoring.intervals import bootstrap, mean_of_rows, root_mean_of_rows, wilson

MetricName = Literal["accuracy", "mae", "rmse"]
Task = Literal["classification", "regression"]
DEFAULT_METRIC: dict[Task, MetricName] = {"classification": "accuracy", "regression": "mae"}


@dataclass(frozen=True, slots=True)
class Estimate:
    """A metric over the labelled rows, with its confidence interval."""

    metric: MetricName
    value: float
    low: float
    high: float
    method: Literal["wilson", "bootstrap"]
    confidence: float


@dataclass(frozen=True, slots=True)
class VersionPerformance:
    version: int
    digest: str
    stages: tuple[str, ...]
    captured: int
    labelled: int
    coverage: float
    estimate: Estimate | None
    coverage_by_class: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Evaluation:
    versions: list[VersionPerformance]
    labels: int
    orphan_labels: int
    superseded_labels: int
    immature_captures: int
    invalid_records: int


def evaluate(
    captures: Iterable[dict[str, Any]],
    labels: Iterable[dict[str, Any]],
    *,
    task: Task,
    now: float,
    metric: MetricName | None = None,
    maturity_seconds: float = 0.0,
    since: float | None = None,
    confidence: float = 0.95,
) -> Evaluation:
    """Per-version totals of `captures` joined with `labels` (records as segments hold them)."""
    chosen = metric or DEFAULT_METRIC[task]
    if (task == "classification") != (chosen == "accuracy"):
        raise ValueError(f"metric {chosen!r} does not apply to {task}")
    counts = JoinCounts()
    known: set[str] = set()
    latest = latest_captures(
        captures, counts, since=since, until=now - maturity_seconds, seen=known
    )
    truth = latest_labels(labels, counts)
    orphans = sum(1 for label_id in truth if label_id not in known)
    by_version: dict[int, list[CaptureRecord]] = defaultdict(list)
    for record in latest.values():
        by_version[record.version].append(record)
    versions = [
        _version(records, truth, task, chosen, confidence)
        for _, records in sorted(by_version.items())
    ]
    return Evaluation(
        versions,
        counts.labels,
        orphans,
        counts.superseded_labels,
        counts.immature,
        counts.invalid,
    )


def _version(
    records: list[CaptureRecord],
    truth: dict[str, LabelRecord],
    task: Task,
    metric: MetricName,
    confidence: float,
) -> VersionPerformance:
    pairs = [(r, truth[r.id].label) for r in records if r.id in truth]
    estimate = _estimate(pairs, metric, confidence) if pairs else None
    by_class: dict[str, float] = {}
    if task == "classification":
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for record in records:
            counts = totals[_text(record.prediction)]
            counts[0] += 1
            counts[1] += record.id in truth
        by_class = {name: labelled / seen for name, (seen, labelled) in sorted(totals.items())}
    latest = max(records, key=lambda r: r.ts)
    return VersionPerformance(
        version=latest.version,
        digest=latest.digest,
        stages=tuple(sorted({r.stage for r in records})),
        captured=len(records),
        labelled=len(pairs),
        coverage=len(pairs) / len(records),
        estimate=estimate,
        coverage_by_class=by_class,
    )


def _estimate(
    pairs: list[tuple[CaptureRecord, Any]], metric: MetricName, confidence: float
) -> Estimate | None:
    if metric == "accuracy":
        correct = sum(_text(r.prediction) == _text(label) for r, label in pairs)
        low, high = wilson(correct, len(pairs), confidence)
        return Estimate(metric, correct / len(pairs), low, high, "wilson", confidence)
    numeric = [(r.prediction, label) for r, label in pairs if _number(r.prediction, label)]
    if not numeric:
        return None
    errors = np.array([float(p) - float(t) for p, t in numeric], dtype=np.float64)
    if metric == "mae":
        values = np.abs(errors)
        value, (low, high) = float(values.mean()), bootstrap(values, mean_of_rows, confidence)
    else:
        values = errors**2
        value = float(np.sqrt(values.mean()))
        low, high = bootstrap(values, root_mean_of_rows, confidence)
    return Estimate(metric, value, low, high, "bootstrap", confidence)


def _text(value: Any) -> str:
    """Labels and predictions compare as text: a class 1 is the label "1", True is "true"."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
