"""Labelled production rows for training (`spec.dataset.production`): read, select, convert.

Reading reuses the evaluation's segment reader (`catalog.segments`) and its join rules
(`catalog.labelled`: last capture and last label of an id win, damaged records counted). Labels
are read first, so only captures that have a label are kept with their inputs: memory grows with
the labelled rows of the window, not with everything captured (measured: a peak of ~2.5 KB per
labelled row of 10 features, one segment in flight included; bounded at 4 KB by
tests/unit/test_train_production_rows.py, so the trainer's default 1 GiB holds a few hundred
thousand labelled rows in the window; `maxRows` caps what is trained on, not what is read).
Only the production stage's captures count (the acceptance Job's requests to the test stage are
not production's, and a shadow answers the same ids production does).

The rest is pure:
- `select`: the newest labelled window (back from the newest labelled row) is held out for the
  live gate and never trained on; of the rest, the newest `maxRows` are kept;
- `to_columns`: rows as the dataset's columns, by feature name, so the training pipeline converts
  them exactly as it converts the dataset's (typed features included); a row that cannot be one
  of the dataset's rows (a feature missing, a class the dataset does not have) is counted by
  reason and left out, never fatal;
- `live_gate`: the candidate must score at least as well as the production version on the
  held-out rows, by the Model's primary metric.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pydantic_core

from modelship.api.v1alpha1 import LOWER_IS_BETTER, ProductionDataSpec
from modelship.catalog.labelled import JoinCounts, latest_captures, latest_labels
from modelship.catalog.segments import SegmentName, SegmentStore, segments
from modelship.contracts.capture import SegmentKind
from modelship.contracts.production_data import LiveGate, SegmentSpan

PRODUCTION_STAGE = "production"


@dataclass(frozen=True, slots=True)
class LabelledRow:
    """A captured production row with the label that arrived for it."""

    id: str
    ts: float
    inputs: dict[str, Any]
    label: Any


@dataclass
class Reading:
    """The labelled rows of a window, oldest first, and what was read to find them."""

    rows: list[LabelledRow]
    captures: SegmentSpan
    labels: SegmentSpan
    counts: JoinCounts


@dataclass(frozen=True)
class Selection:
    """Rows to train on (oldest first), rows held out for the live gate, and rows capped."""

    train: list[LabelledRow]
    holdout: list[LabelledRow]
    capped: int = 0
    holdout_from: float | None = None


@dataclass
class _Names:
    seen: list[SegmentName] = field(default_factory=list)


def read_labelled(store: SegmentStore, since: float, now: float) -> Reading:
    """Production captures answered in [since, now] that have a label, joined with it."""
    start = datetime.fromtimestamp(since, UTC)
    counts = JoinCounts()
    label_names, capture_names = _Names(), _Names()
    # A label is written after the answer it labels, so no segment before the window matters.
    truth = latest_labels(_records(store, "labels", start, label_names), counts)
    captured = latest_captures(
        _records(store, "captures", start, capture_names),
        counts,
        since=since,
        until=now,
        keep=lambda c: c.stage == PRODUCTION_STAGE and c.id in truth,
    )
    rows = sorted(
        (LabelledRow(c.id, c.ts, c.inputs, truth[c.id].label) for c in captured.values()),
        key=lambda r: (r.ts, r.id),
    )
    return Reading(rows, span(capture_names.seen), span(label_names.seen), counts)


def _records(
    store: SegmentStore, kind: SegmentKind, start: datetime, names: _Names
) -> Iterator[dict[str, Any]]:
    for name, records in segments(store, kind, start):
        names.seen.append(name)
        yield from records


def span(names: Sequence[SegmentName]) -> SegmentSpan:
    ordered = sorted(names)
    digest = hashlib.sha256("\n".join(n.text for n in ordered).encode()).hexdigest()
    return SegmentSpan(
        count=len(ordered),
        first=ordered[0].text if ordered else None,
        last=ordered[-1].text if ordered else None,
        digest=f"sha256:{digest}",
    )


def select(rows: Sequence[LabelledRow], spec: ProductionDataSpec) -> Selection:
    """Hold the newest labelled window out; keep the newest `max_rows` of the rest."""
    ordered = sorted(rows, key=lambda r: (r.ts, r.id))
    if not ordered:
        return Selection([], [])
    holdout: list[LabelledRow] = []
    holdout_from = None
    if spec.holdout_seconds > 0:
        holdout_from = ordered[-1].ts - spec.holdout_seconds
        holdout = [r for r in ordered if r.ts >= holdout_from]
        ordered = [r for r in ordered if r.ts < holdout_from]
    capped = max(0, len(ordered) - spec.max_rows)
    return Selection(ordered[capped:], holdout, capped, holdout_from)


def to_columns(
    rows: Sequence[LabelledRow],
    *,
    features: Sequence[str],
    target: str,
    task: str,
    classes: Sequence[Any] | None,
    missing_token: str | None,
    refused: Counter[str],
) -> tuple[dict[str, npt.NDArray[Any]], list[LabelledRow]]:
    """`rows` as object columns named like the dataset's (features and target), and the rows
    kept. A missing input (null) becomes `missing_token`, the dataset's own word for a gap
    (None: the features are untyped, and such a row is refused as the dataset's would be)."""
    known = {_text(c) for c in classes} if classes is not None else None
    kept: list[LabelledRow] = []
    cells: list[list[Any]] = []
    for row in rows:
        reason = _refusal(row, features, task, known, missing_token)
        if reason is not None:
            refused[reason] += 1
            continue
        values = [row.inputs[name] for name in features]
        cells.append([missing_token if v is None else v for v in values] + [row.label])
        kept.append(row)
    table = np.empty((len(cells), len(features) + 1), dtype=object)
    for i, line in enumerate(cells):
        table[i, :] = line
    names = [*features, target]
    return {name: table[:, j] for j, name in enumerate(names)}, kept


def _refusal(
    row: LabelledRow,
    features: Sequence[str],
    task: str,
    known: set[str] | None,
    missing_token: str | None,
) -> str | None:
    for name in features:
        if name not in row.inputs:
            return "missing_feature"
        value = row.inputs[name]
        if value is None and missing_token is None:
            return "missing_value"
        if isinstance(value, dict | list):
            return "malformed_input"
    if task == "regression":
        label = row.label
        if isinstance(label, bool) or not isinstance(label, int | float | str):
            return "malformed_label"
        try:
            number = float(label)
        except ValueError:
            return "malformed_label"
        return None if np.isfinite(number) else "malformed_label"
    if known is not None and _text(row.label) not in known:
        return "unknown_class"
    return None


def _text(value: Any) -> str:
    """Classes compare as text (as the evaluation's join does): 1, 1.0 and "1" are one class."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return _text(value.item())
    return str(value).strip()


def rows_digest(train: Sequence[LabelledRow], holdout: Sequence[LabelledRow]) -> str:
    """sha256 of the rows used (training rows, then held-out ones): id, inputs and label."""
    digest = hashlib.sha256()
    for part in (train, holdout):
        for row in part:
            digest.update(pydantic_core.to_json({"id": row.id, "inputs": row.inputs,
                                                 "label": row.label}))  # fmt: skip
            digest.update(b"\n")
        digest.update(b"--\n")
    return f"sha256:{digest.hexdigest()}"


def live_gate(
    metric: str,
    candidate: float | None,
    champion: float | None,
    champion_version: int | None,
    rows: int,
    min_rows: int,
) -> LiveGate:
    """Whether the candidate may go on: at least as good as production on the held-out rows.

    No version in production: nothing to beat (passes, as minImprovement gates do). Fewer held-
    out rows than `min_rows`: fails closed, since the candidate cannot be shown to be as good.
    """
    lower = metric in LOWER_IS_BETTER
    where = f"on {rows} held-out production row(s)"
    if champion_version is None:
        return _gate(metric, candidate, None, None, rows, True,
                     f"no version in production to compare with ({where})")  # fmt: skip
    if rows < min_rows or rows == 0:
        return _gate(
            metric, candidate, champion, champion_version, rows, rows >= min_rows,
            f"at least {min_rows} held-out production row(s) (minHoldoutRows) to compare with "
            f"production version {champion_version}, found {rows}",
        )  # fmt: skip
    passed = (
        candidate is not None
        and champion is not None
        and (candidate <= champion if lower else candidate >= champion)
    )
    relation = "<=" if lower else ">="
    bound = f"{relation} {_fmt(champion)} (production version {champion_version} {where})"
    return _gate(metric, candidate, champion, champion_version, rows, passed, bound)


def _gate(
    metric: str,
    candidate: float | None,
    champion: float | None,
    version: int | None,
    rows: int,
    passed: bool,
    bound: str,
) -> LiveGate:
    verdict = "" if passed else "is not "
    return LiveGate(
        metric=metric, candidate=candidate, champion=champion, champion_version=version,
        rows=rows, passed=passed, bound=bound,
        reason=f"live {metric}: candidate {_fmt(candidate)} {verdict}{bound}",
    )  # fmt: skip


def _fmt(value: float | None) -> str:
    return "missing" if value is None else f"{value:.4g}"
