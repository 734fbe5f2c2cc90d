"""`python -m modelship.batch`: run the step the environment names, report one line, exit.

Exit 0 with the report; 2 for bad input or a refused version (the operator does not retry);
1 for anything else (a Job retries the pod). The report goes to the termination message, where
the operator reads it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from modelship.batch import steps
from modelship.batch.settings import BatchSettings
from modelship.contracts.batch import EXIT_BAD_INPUT, TERMINATION_MESSAGE_PATH, BatchReport
from modelship.training.errors import TrainerError

STEPS = {"plan": steps.plan, "shard": steps.shard, "assemble": steps.assemble}


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = BatchSettings()
    except ValidationError as error:
        _report(BatchReport(step="plan", ok=False, reason="InvalidSettings", error=str(error)),
                Path(TERMINATION_MESSAGE_PATH))  # fmt: skip
        return EXIT_BAD_INPUT
    where = Path(settings.termination_message_path)
    try:
        report = STEPS[settings.step](settings)
    except TrainerError as error:
        _report(BatchReport(step=settings.step, ok=False, reason=error.reason,
                            error=error.message, shard=settings.shard_index), where)  # fmt: skip
        return error.exit_code
    except Exception as error:  # the pod's retry may help; say what happened
        logging.exception("batch step %s failed", settings.step)
        _report(BatchReport(step=settings.step, ok=False, reason="BatchStepFailed",
                            error=repr(error), shard=settings.shard_index), where)  # fmt: skip
        return 1
    _report(report, where)
    return 0


def _report(report: BatchReport, where: Path) -> None:
    line = report.to_message()
    print(line, flush=True)
    try:
        where.write_text(line + "\n")
    except OSError:
        logging.warning("cannot write the termination message to %s", where)


if __name__ == "__main__":
    sys.exit(main())
