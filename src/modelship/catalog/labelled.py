"""The rules that pair captured rows with their labels (pure), shared by both readers.

Two processes read capture and label segments: the evaluation Job (`monitoring.join`), which
measures served versions, and the trainer (`training.production`), which learns from labelled
production rows. They sit side by side in the layering and may not import each other, so the
rules they must agree on live here, one layer below both:

- the last capture of an id wins: a retry of the same request repeats it (same id, same answer);
- the last label of an id wins, by arrival time: corrections are how labellers fix mistakes;
- a record that does not validate is counted and skipped: a damaged line never stops a reader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modelship.contracts.capture import CaptureRecord, LabelRecord


@dataclass
class JoinCounts:
    """What the readers counted on the way (reported, never fatal)."""

    invalid: int = 0
    labels: int = 0
    superseded_labels: int = 0
    immature: int = 0


def latest_labels(raw: Iterable[dict[str, Any]], counts: JoinCounts) -> dict[str, LabelRecord]:
    """The last label of every id (by arrival time)."""
    truth: dict[str, LabelRecord] = {}
    for record in raw:
        try:
            label = LabelRecord.model_validate(record)
        except ValidationError:
            counts.invalid += 1
            continue
        counts.labels += 1
        previous = truth.get(label.id)
        if previous is not None:
            counts.superseded_labels += 1
            if previous.ts > label.ts:
                continue
        truth[label.id] = label
    return truth


def latest_captures(
    raw: Iterable[dict[str, Any]],
    counts: JoinCounts,
    *,
    since: float | None = None,
    until: float | None = None,
    keep: Callable[[CaptureRecord], bool] | None = None,
    seen: set[str] | None = None,
) -> dict[str, CaptureRecord]:
    """The last capture of every id answered in [`since`, `until`] that `keep` accepts.

    Captures after `until` are counted as immature (their labels may be on their way). `seen`
    collects every valid capture's id whatever its time, so a reader can tell orphan labels.
    """
    latest: dict[str, CaptureRecord] = {}
    for record in raw:
        try:
            capture = CaptureRecord.model_validate(record)
        except ValidationError:
            counts.invalid += 1
            continue
        if seen is not None:
            seen.add(capture.id)
        if since is not None and capture.ts < since:
            continue
        if until is not None and capture.ts > until:
            counts.immature += 1
            continue
        if keep is not None and not keep(capture):
            continue
        previous = latest.get(capture.id)
        if previous is None or previous.ts <= capture.ts:
            latest[capture.id] = capture
    return latest
