"""`python -m modelship.training.script.runner`: the code container's process.

The container itself is the boundary: it mounts the training rows, the module and an output
directory, and nothing else — no catalog, no registry Secret, no API token, no held-out rows.
Inside it, the user's function runs in a child process (`child.py`) with an emptied environment
and its own session, so that a time-out kills it and everything it started, and so that what it
leaves behind is only a file: the runner reads the child's JSON report and never unpickles or
loads anything it produced. Each outcome ends this container with a reason the operator shows,
and exit code 2 (the same code fails the same way again: never retried).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship.contracts.training_code import MODEL_OUTPUT, RESULT_FILE, CodeRunnerEnv
from modelship.training.errors import EXIT_OK, BadInput, TrainerError
from modelship.training.main import fail
from modelship.training.script.child import CodeReport, Request

log = logging.getLogger(__name__)
# The only variables the child inherits: enough to find Python and its libraries.
PASSED_VARIABLES = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV")


class CodeRunnerSettings(BaseSettings, CodeRunnerEnv):
    model_config = SettingsConfigDict(env_prefix=CodeRunnerEnv.env_prefix, extra="ignore")


def child_environment(scratch: str) -> dict[str, str]:
    """The child's whole environment: no MODELSHIP_*, no DOCKER_CONFIG, nothing the pod was told."""
    env = {name: os.environ[name] for name in PASSED_VARIABLES if name in os.environ}
    env.update({"HOME": scratch, "TMPDIR": scratch, "PYTHONUNBUFFERED": "1"})
    return env


def run_code(settings: CodeRunnerEnv) -> CodeReport:
    """Run the function in a child; its report on success, a BadInput naming what went wrong."""
    output = Path(settings.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for stale in (output / RESULT_FILE, output / MODEL_OUTPUT):
        stale.unlink(missing_ok=True)
    request = Request(
        code_file=settings.code_file,
        entrypoint=settings.entrypoint,
        params=settings.params,
        train_dir=settings.train_dir,
        output_dir=str(output),
    )
    scratch = os.environ.get("TMPDIR") or "/tmp"
    child = subprocess.Popen(
        [sys.executable, "-m", "modelship.training.script.child"],
        stdin=subprocess.PIPE,
        stdout=sys.stderr,  # the code's prints belong in the log, never in a report
        env=child_environment(scratch),
        cwd=scratch,
        start_new_session=True,
    )
    try:
        assert child.stdin is not None
        child.stdin.write(request.model_dump_json().encode())
        child.stdin.close()
        code = child.wait(timeout=settings.timeout_seconds)
    except subprocess.TimeoutExpired:
        _kill(child)
        raise BadInput(
            "CodeTimeout",
            f"the training code ran past training.code.timeoutSeconds "
            f"({settings.timeout_seconds:g}s) and was killed",
        ) from None
    except BaseException:
        _kill(child)
        raise
    return _report(output, code)


def _report(output: Path, code: int) -> CodeReport:
    try:
        report = CodeReport.model_validate_json((output / RESULT_FILE).read_bytes())
    except (OSError, ValidationError):
        raise BadInput(
            "CodeCrashed",
            f"the training code's process ended with exit code {code} without a result "
            "(it exited or crashed inside the training function; see the code container's log)",
        ) from None
    if report.reason is not None:
        raise BadInput(report.reason, report.error or report.reason)
    if not (output / MODEL_OUTPUT).is_file():
        raise BadInput("CodeCrashed", "the training code's process wrote no model")
    return report


def _kill(child: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole session (whatever it forked too), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    try:
        settings = CodeRunnerSettings()
    except ValidationError as exc:
        path = Path(CodeRunnerEnv().termination_message_path)
        return fail(path, BadInput("InvalidConfiguration", f"invalid settings: {exc}"))
    try:
        report = run_code(settings)
    except TrainerError as exc:
        return fail(Path(settings.termination_message_path), exc)
    log.info("the training code returned %s", report.estimator)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
