"""How one run of a container ended, as a kubelet reports it: exit code, reason and message.

Each run gets fresh files (no start error or termination message of an earlier run survives a
restart); when the run ends they become the container's `state.terminated`.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelship.devcluster.node.plan import LaunchPlan

JSON = dict[str, Any]
MESSAGE_LIMIT = 4096  # what a kubelet keeps of a termination message
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048


@dataclass(frozen=True)
class RunFiles:
    error_file: Path  # the launcher's reason when it could not exec (StartError)
    message_file: Path  # the container's terminationMessagePath, mapped
    plan_path: Path
    log: Path


def prepare_run_files(directory: Path, plan: LaunchPlan, log: Path) -> RunFiles:
    """Fresh per-run files: no stale start error or termination message survives a restart."""
    directory.mkdir(parents=True, exist_ok=True)
    error_file = Path(plan.error_file)
    error_file.unlink(missing_ok=True)
    message_file = directory / "termination-log"
    message_file.write_bytes(b"")
    plan_path = directory / "plan.json"
    plan.write(plan_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    return RunFiles(error_file, message_file, plan_path, log)


def terminated_state(
    spec: Mapping[str, Any], code: int, started_at: str, finished_at: str,
    container_id: str | None, files: RunFiles,
) -> JSON:  # fmt: skip
    terminated: JSON = {"exitCode": code, "startedAt": started_at, "finishedAt": finished_at,
                        "containerID": container_id}  # fmt: skip
    if files.error_file.exists() and files.error_file.stat().st_size:
        terminated["reason"] = "StartError"
        terminated["message"] = files.error_file.read_text(errors="replace")[:MESSAGE_LIMIT]
        return terminated
    terminated["reason"] = "Completed" if code == 0 else "Error"
    message = files.message_file.read_bytes()[:MESSAGE_LIMIT].decode(errors="replace")
    policy = spec.get("terminationMessagePolicy", "File")
    if not message and code != 0 and policy == "FallbackToLogsOnError":
        message = log_tail(files.log)
    if message:
        terminated["message"] = message
    return terminated


def log_tail(log: Path) -> str:
    try:
        lines = log.read_bytes().splitlines()[-FALLBACK_LOG_LINES:]
    except OSError:
        return ""
    return b"\n".join(lines)[-FALLBACK_LOG_BYTES:].decode(errors="replace")


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group a container's process leads (it started a new session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
