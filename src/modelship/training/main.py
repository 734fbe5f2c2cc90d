"""`python -m modelship.training`: the process around `train`.

Contract with the TrainingJob controller (documented in CONTRACT.md):
- success: exit 0; one line of JSON (the `TrainerSummary` of `modelship.contracts.training`) on
  stdout and in the termination message file. Gate failures are still a success of the
  *trainer*: the version is published and `gatesPassed` says it must not be deployed.
- failure: a `TrainerFailure` (`{"error": ..., "reason": ...}`) in the termination message file
  and on stderr; exit 2 for bad input (do not retry), 1 for anything that may succeed on retry.
stdout carries only the summary, so estimator chatter (libsvm's `verbose` writes to file
descriptor 1 from C) is diverted to stderr while training.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError

from modelship.catalog import (
    CatalogError,
    InvalidNameError,
    StorageError,
    UntrustedArtifactError,
    open_catalog,
)
from modelship.contracts.training import TrainerEnv, TrainerFailure, TrainerSummary
from modelship.training.errors import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_TRANSIENT,
    BadInput,
    TrainerError,
)
from modelship.training.run import load_snapshot, train
from modelship.training.settings import DEFAULT_TERMINATION_MESSAGE_PATH, TrainerSettings

log = logging.getLogger("modelship.training")


def parse_args(argv: Sequence[str] | None) -> dict[str, object]:
    """Command-line overrides of the MODELSHIP_TRAINING_* settings (handy outside a pod)."""
    parser = argparse.ArgumentParser(prog="python -m modelship.training", description=__doc__)
    parser.add_argument("--snapshot-file", type=Path)
    parser.add_argument("--catalog-root")
    parser.add_argument("--namespace")
    parser.add_argument("--model-name")
    parser.add_argument("--training-job-name")
    parser.add_argument("--termination-message-path")
    args = parser.parse_args(argv)
    return {key: value for key, value in vars(args).items() if value is not None}


def main(argv: Sequence[str] | None = None) -> int:
    return run_step(argv, _run)


def run_step(
    argv: Sequence[str] | None, step: Callable[[TrainerSettings], TrainerSummary | None]
) -> int:
    """Run one trainer step as a process: settings in, exit code and termination message out.

    The built-in trainer is one step; script mode's prepare and publish containers are others
    (`training.script`), with the same failure contract. A step that returns no summary (prepare)
    succeeds silently.
    """
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    quiet_openmp_waits()
    overrides = parse_args(argv)
    try:
        settings = TrainerSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        fallback = Path(str(overrides.get("termination_message_path", "")) or _fallback_path())
        return fail(fallback, BadInput("InvalidConfiguration", f"invalid settings: {exc}"))
    try:
        with _stdout_to_stderr():
            summary = step(settings)
    except TrainerError as exc:
        return fail(Path(settings.termination_message_path), exc)
    except Exception as exc:  # a bug or an unforeseen environment failure: worth one more try
        log.exception("training failed unexpectedly")
        error = TrainerError("InternalError", f"{type(exc).__name__}: {exc}")
        return fail(Path(settings.termination_message_path), error)
    if summary is None:
        return EXIT_OK
    line = summary_line(summary)
    _write_termination_message(Path(settings.termination_message_path), line)
    print(line, flush=True)
    return EXIT_OK


def _run(settings: TrainerSettings) -> TrainerSummary:
    snapshot = load_snapshot(settings)
    if not settings.catalog_root:
        variable = TrainerEnv.env_name("catalog_root")
        raise BadInput("InvalidConfiguration", f"{variable} is not set")
    with catalog_errors():
        return train(snapshot, settings, open_catalog(settings.catalog_root))


@contextlib.contextmanager
def catalog_errors() -> Iterator[None]:
    """Catalog failures as trainer failures: which are the input's fault, which may pass."""
    try:
        yield
    except InvalidNameError as exc:
        raise BadInput("InvalidConfiguration", str(exc)) from exc
    except UntrustedArtifactError as exc:
        # The same snapshot builds the same estimator: retrying cannot help.
        raise BadInput("UntrustedArtifactType", str(exc)) from exc
    except StorageError as exc:
        # An unwritable or full volume: not the user's input, and an admin or a retry can fix it.
        raise TrainerError("CatalogUnavailable", str(exc)) from exc
    except CatalogError as exc:
        raise TrainerError("CatalogError", str(exc)) from exc


def quiet_openmp_waits() -> None:
    """Idle OpenMP threads sleep rather than spin, unless the pod says otherwise.

    XGBoost, LightGBM and HistGradientBoosting train on OpenMP threads (one per usable CPU), and
    GNU OpenMP's default is to spin between parallel regions. On a node whose cores are busy
    with other work, spinning threads take turns with the ones that have work: measured on a
    shared 2-core machine, 20 trees on 2,000 rows took 0.8-1.7 s with two spinning threads and
    0.02-0.05 s with passive ones. Set before the libraries load (they read it once).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def summary_line(summary: TrainerSummary) -> str:
    """The summary as the operator reads it (compact, within the termination message limit)."""
    return summary.termination_line()


def error_line(error: TrainerError) -> str:
    # Leave room for the JSON around the message; the reason is short by construction.
    message = " ".join(error.message.split())[:3500]
    return TrainerFailure(error=message, reason=error.reason).termination_line()


def fail(path: Path, error: TrainerError) -> int:
    line = error_line(error)
    print(line, file=sys.stderr, flush=True)
    _write_termination_message(path, line)
    return EXIT_BAD_INPUT if error.exit_code == EXIT_BAD_INPUT else EXIT_TRANSIENT


def _write_termination_message(path: Path, line: str) -> None:
    try:
        path.write_text(line + "\n", encoding="utf-8")
    except OSError as exc:  # outside a pod the path may not exist; stdout/stderr still tell
        log.warning("cannot write termination message to %s: %s", path, exc)


def _fallback_path() -> str:
    """The termination path when the settings themselves are invalid (read at run time)."""
    return os.environ.get(
        TrainerEnv.env_name("termination_message_path"), str(DEFAULT_TERMINATION_MESSAGE_PATH)
    )


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr for the block, so only the summary reaches stdout."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1 at all: nothing to protect
        yield
        return
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
