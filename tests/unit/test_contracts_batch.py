"""The batch pods' report line: it fits a termination message and is read back by the operator."""

from __future__ import annotations

from modelship.contracts.batch import (
    MAX_MESSAGE_CHARS,
    TERMINATION_MESSAGE_PATH,
    BatchEnv,
    BatchReport,
    ShardError,
)
from modelship.contracts.training import TERMINATION_MESSAGE_LIMIT


def test_a_report_round_trips_through_the_message() -> None:
    report = BatchReport(step="shard", shard=3, rows=40, reused=True, error_rows=0)
    text = f"some log line\n{report.to_message()}\n"
    assert BatchReport.from_message(text) == report
    assert BatchReport.from_message("Traceback (most recent call last): boom") is None
    assert BatchReport.from_message(None) is None


def test_a_long_report_is_trimmed_to_fit() -> None:
    errors = [ShardError(row=i, id=f"id-{i}", reason="x" * 400) for i in range(20)]
    report = BatchReport(
        step="assemble",
        ok=False,
        reason="TooManyFailedRows",
        error="e" * 5000,
        first_errors=errors,
        columns=["c" * 50] * 50,
    )
    line = report.to_message()
    assert len(line) <= MAX_MESSAGE_CHARS < TERMINATION_MESSAGE_LIMIT
    read = BatchReport.from_message(line)
    assert read is not None and read.reason == "TooManyFailedRows"
    assert read.first_errors == errors[:1] and read.error is not None and len(read.error) == 500


def test_the_environment_names_are_prefixed_and_complete() -> None:
    env = BatchEnv(
        step="plan", name="bp", namespace="ml", model_name="iris", version=1,
        digest="sha256:" + "a" * 64, approved=False, catalog_root="/c",
        input_uri="builtin:iris", output_dir="/o",
    )  # fmt: skip
    names = {e["name"]: e["value"] for e in env.to_env()}
    assert names["MODELSHIP_BATCH_APPROVED"] == "false"
    assert names["MODELSHIP_BATCH_PASSTHROUGH"] == "[]"
    assert names["MODELSHIP_BATCH_TERMINATION_MESSAGE_PATH"] == TERMINATION_MESSAGE_PATH
    assert all(name.startswith("MODELSHIP_BATCH_") for name in names)
