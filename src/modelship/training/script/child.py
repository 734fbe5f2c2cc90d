"""`python -m modelship.training.script.child`: the process that runs the user's code.

Started by the runner with an emptied environment, in its own session (so a time-out kills
everything it started). It imports the module from its file, calls the entry point with the
training rows and the params, and writes the returned estimator as skops bytes. It never loads
anything back: checking the types and loading is the publish container's job, so nothing this
process writes is trusted by the process that reads it. Every outcome is one small JSON report
(`CodeReport`) in the output directory, read by the runner.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from modelship.contracts.training_code import MODEL_OUTPUT, RESULT_FILE, read_training_data

MODULE_NAME = "user_training_code"
MESSAGE_LIMIT = 1500


class CodeReport(BaseModel):
    """What happened to the user's code: `reason` None means an estimator was written."""

    reason: str | None = None
    error: str | None = None
    estimator: str | None = None


class Request(BaseModel):
    code_file: str
    entrypoint: str
    params: dict[str, Any]
    train_dir: str
    output_dir: str


def is_estimator(value: Any) -> bool:
    """scikit-learn's duck type: something with fit and predict (a Pipeline, a classifier...)."""
    return callable(getattr(value, "fit", None)) and callable(getattr(value, "predict", None))


def type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _where(exc: BaseException, code_file: str) -> str:
    """The innermost line of the user's file in the traceback, to say where it raised."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == code_file]
    return f" (line {frames[-1].lineno} of the training code)" if frames else ""


def run(request: Request) -> CodeReport:
    try:
        spec = importlib.util.spec_from_file_location(MODULE_NAME, request.code_file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE_NAME] = module
        spec.loader.exec_module(module)
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}{_where(exc, request.code_file)}"
        return CodeReport(reason="CodeImportFailed", error=message)
    function = getattr(module, request.entrypoint, None)
    if not callable(function):
        return CodeReport(
            reason="EntrypointNotFound",
            error=f"the training code defines no function {request.entrypoint!r} "
            "(training.code.entrypoint)",
        )
    data = read_training_data(Path(request.train_dir))
    try:
        result = function(data, dict(request.params))
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}{_where(exc, request.code_file)}"
        return CodeReport(reason="CodeRaised", error=f"{request.entrypoint} raised {message}")
    if not is_estimator(result):
        return CodeReport(
            reason="NotAnEstimator",
            error=f"{request.entrypoint} returned {type_name(result)}, not a fitted estimator "
            "(an object with fit and predict, such as a scikit-learn Pipeline)",
        )
    import skops.io

    try:
        data_bytes = skops.io.dumps(result)
    except Exception as exc:
        return CodeReport(
            reason="UntrustedType",
            error=f"{type_name(result)} cannot be saved as a safe artifact: {exc}",
        )
    (Path(request.output_dir) / MODEL_OUTPUT).write_bytes(data_bytes)
    return CodeReport(estimator=type_name(result))


def main() -> int:
    request = Request.model_validate_json(sys.stdin.read())
    report = run(request)
    if report.error:
        report.error = report.error[:MESSAGE_LIMIT]
    text = json.dumps(report.model_dump(mode="json"))
    (Path(request.output_dir) / RESULT_FILE).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
