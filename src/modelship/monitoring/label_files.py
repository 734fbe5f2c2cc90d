"""Label files: a CSV with an id column and a label column, read as label records (pure).

The second way labels arrive (the first is the feedback route): a file the Model names, written
by whatever system learns the outcome (a CRM export, a nightly job). Read as a stream of lines so
a million-row file never sits in memory twice; every row that cannot be a label (no id, an id
too long, an empty label, an id outside the capture sample that could never join) is counted by
reason and skipped, never fatal, as the feedback route does. Labels keep their text: the join
compares labels and predictions as text, and a regressor's numeric labels are parsed as numbers.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from modelship.contracts.capture import MAX_ID_CHARS, sampled


class LabelFileError(ValueError):
    """The file cannot be read as labels at all (the message names the column)."""


@dataclass
class LabelFileReport:
    rows: int = 0
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)


def read_label_csv(
    lines: Iterable[str],
    *,
    id_column: str,
    label_column: str,
    numeric: bool,
    ts: float,
    source: str,
    report: LabelFileReport,
    sample_rate: float = 1.0,
) -> Iterator[dict[str, Any]]:
    """Label records (`contracts.capture.LabelRecord` as dicts) from CSV `lines`.

    `numeric`: labels of a regressor, parsed as finite numbers. `sample_rate`: the capture's; a
    row whose id it does not sample is refused as `unknown_id`. `report` is filled as the
    records are consumed.
    """
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise LabelFileError("the label file is empty; expected a header row")
    names = [h.strip() for h in header]
    for wanted, what in ((id_column, "idColumn"), (label_column, "labelColumn")):
        if wanted not in names:
            raise LabelFileError(f"{what} {wanted!r} is not a column of the label file: {names}")
    id_at, label_at = names.index(id_column), names.index(label_column)
    for row in reader:
        if not row:
            continue
        report.rows += 1
        if len(row) <= max(id_at, label_at):
            report.refused["short_row"] += 1
            continue
        row_id, text = row[id_at].strip(), row[label_at].strip()
        if not row_id or len(row_id) > MAX_ID_CHARS:
            report.refused["malformed_id"] += 1
            continue
        label: Any = text
        if not text:
            report.refused["malformed_label"] += 1
            continue
        if numeric:
            try:
                label = float(text)
            except ValueError:
                label = math.nan
            if not math.isfinite(label):
                report.refused["malformed_label"] += 1
                continue
        if not sampled(row_id, sample_rate):
            report.refused["unknown_id"] += 1
            continue
        report.accepted += 1
        yield {"id": row_id, "ts": ts, "label": label, "source": source}
