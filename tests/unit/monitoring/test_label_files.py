"""Label files: CSV rows to label records, bad rows counted, and the records join."""

from __future__ import annotations

import io

import pytest

from modelship.contracts.capture import LabelRecord
from modelship.monitoring.join import evaluate
from modelship.monitoring.label_files import LabelFileError, LabelFileReport, read_label_csv

CSV = """customer,outcome,note
r/0,1,first
r/1,0,
,1,no id
r/2,,no label
short
r/3,1
"""


def read(text: str, numeric: bool = False) -> tuple[list[dict[str, object]], LabelFileReport]:
    report = LabelFileReport()
    records = list(
        read_label_csv(
            io.StringIO(text), id_column="customer", label_column="outcome", numeric=numeric,
            ts=100.0, source="crm-export", report=report,
        )
    )  # fmt: skip
    return records, report


def test_rows_become_label_records_and_bad_rows_are_counted() -> None:
    records, report = read(CSV)
    assert [LabelRecord.model_validate(r).id for r in records] == ["r/0", "r/1", "r/3"]
    assert records[0] == {"id": "r/0", "ts": 100.0, "label": "1", "source": "crm-export"}
    assert (report.rows, report.accepted) == (6, 3)
    assert report.refused == {"malformed_id": 1, "malformed_label": 1, "short_row": 1}


def test_numeric_labels_are_numbers_and_must_be_finite() -> None:
    records, report = read("customer,outcome\na,1.5\nb,high\nc,nan\n", numeric=True)
    assert [r["label"] for r in records] == [1.5]
    assert report.refused == {"malformed_label": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("id,label\n", "idColumn 'customer'"), ("customer\n", "labelColumn")],
)
def test_a_file_without_the_columns_is_refused_naming_them(text: str, message: str) -> None:
    with pytest.raises(LabelFileError, match=message):
        read(text)


def test_file_labels_join_captures() -> None:
    captures = [
        {"id": f"r/{i}", "ts": 0.0, "model": "m", "version": 1, "digest": "sha256:x",
         "stage": "production", "inputs": {}, "prediction": 1, "proba": None}
        for i in range(4)
    ]  # fmt: skip
    records, _ = read(CSV)
    result = evaluate(captures, records, task="classification", now=1000.0)
    estimate = result.versions[0].estimate
    assert estimate is not None and (result.versions[0].labelled, estimate.value) == (3, 2 / 3)
