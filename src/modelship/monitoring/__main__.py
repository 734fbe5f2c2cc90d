"""`python -m modelship.monitoring`: evaluate the served versions and report by termination message.

Exit 0 with the totals; exit 1 when no evaluation could be made (bad plan, store unreachable,
a metric that does not fit the task), with the reason in the same message: the operator records
it in status.performance.error and tries again at the next interval.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pydantic import ValidationError

from modelship.catalog import CatalogError
from modelship.catalog.segments import default_store_uri, open_segment_store
from modelship.contracts.evaluation import (
    DEFAULT_TERMINATION_MESSAGE_PATH,
    MAX_ERROR_CHARS,
    EvaluationReport,
)
from modelship.monitoring.evaluation import run
from modelship.monitoring.label_sources import SourceLimits
from modelship.monitoring.settings import EvaluationSettings


def emit(report: EvaluationReport, path: str) -> None:
    line = report.to_message()
    print(line, flush=True)
    try:
        Path(path).write_text(line)
    except OSError as exc:
        print(f"cannot write termination message: {exc}", file=sys.stderr)


def main() -> int:
    try:
        settings = EvaluationSettings()  # fields come from the environment
    except ValidationError as exc:
        emit(EvaluationReport(error=f"bad plan: {exc}"[:MAX_ERROR_CHARS]), _fallback_path())
        return 1
    path = settings.termination_message_path
    try:
        plan = settings.plan
        store = open_segment_store(
            plan.store or default_store_uri(plan.catalog_root, plan.namespace, plan.model)
        )
        now = settings.now if settings.now is not None else time.time()
        limits = SourceLimits(settings.label_file_max_bytes, settings.label_file_timeout_seconds)
        report = run(plan, store, now, limits)
    except (CatalogError, ValueError) as exc:
        emit(EvaluationReport(error=str(exc)[:MAX_ERROR_CHARS]), path)
        return 1
    emit(report, path)
    return 0


def _fallback_path() -> str:
    """The termination path when the settings themselves are invalid."""
    import os

    name = EvaluationSettings.env_name("termination_message_path")
    return os.environ.get(name, DEFAULT_TERMINATION_MESSAGE_PATH)


if __name__ == "__main__":
    sys.exit(main())
