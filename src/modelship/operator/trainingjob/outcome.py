"""Read what happened to a training attempt from its Job and pod, without I/O.

The trainer reports through its termination message: a `TrainerSummary` on success, or a
`TrainerFailure` with exit code 2 for bad input (never retried) and 1 for an infrastructure
failure (retried); both are the shared models of `modelship.contracts.training`. Kubernetes
itself reports deadlines, OOM kills and images that cannot run; each becomes a reason a user can
act on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from modelship.contracts.training import TrainerFailure, TrainerSummary

Obj = dict[str, Any]
EXIT_BAD_INPUT = 2
# Waiting reasons that will not fix themselves by waiting longer.
HOPELESS_WAITING = {
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "ImageNotRunnable",
    "CreateContainerError",
}


@dataclass(frozen=True)
class Outcome:
    """`state` is running, succeeded or failed; a failure says whether another attempt may help."""

    state: Literal["running", "succeeded", "failed"]
    summary: TrainerSummary | None = None
    reason: str = ""
    message: str = ""
    retryable: bool = False


def _job_condition(job: Obj, type_: str) -> Obj | None:
    for condition in job.get("status", {}).get("conditions", []) or []:
        if condition.get("type") == type_ and condition.get("status") == "True":
            return dict(condition)
    return None


def _trainer_status(pods: list[Obj]) -> tuple[Obj | None, Obj | None]:
    """The trainer container's status in the newest pod, and that pod."""
    for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True):
        for container in pod.get("status", {}).get("containerStatuses", []) or []:
            if container.get("name") == "trainer":
                return container, pod
    return None, (pods[-1] if pods else None)


def _init_status(pods: list[Obj]) -> tuple[Obj | None, Obj | None]:
    """In the newest pod, the first init container (script mode: prepare, code) that failed,
    as (terminated, hopeless waiting); later steps never ran, so the first one says why."""
    for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True):
        for container in pod.get("status", {}).get("initContainerStatuses", []) or []:
            state = container.get("state", {})
            terminated = state.get("terminated")
            if terminated is not None and terminated.get("exitCode", 0) != 0:
                return terminated, None
            waiting = state.get("waiting")
            if waiting is not None and waiting.get("reason") in HOPELESS_WAITING:
                return None, waiting
        return None, None
    return None, None


def parse_termination_message(text: str | None) -> Obj:
    """The last JSON object of a termination message (or the text's tail as `error`).

    Not used for the trainer's summary (that is `TrainerSummary`); kept for the acceptance Job's
    report, which `rollout.py` still reads this way until it has a contract of its own.
    """
    if not text:
        return {}
    for line in reversed(text.strip().splitlines()):
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            return parsed
    return {"error": text.strip()[-500:]}


def read_outcome(job: Obj | None, pods: list[Obj]) -> Outcome:
    """Classify one attempt from its Job and the Job's pods."""
    if job is None:
        return Outcome("running")
    status, pod = _trainer_status(pods)
    terminated = (status or {}).get("state", {}).get("terminated")
    waiting = (status or {}).get("state", {}).get("waiting")
    init_terminated, init_waiting = _init_status(pods)
    if init_terminated is not None:
        # An init step's report is the attempt's: script mode's code container exits 2 when
        # the user's code fails, which must not be retried like a cluster fault.
        return _failed_container(init_terminated)
    waiting = init_waiting or waiting
    if _job_condition(job, "Complete"):
        summary = TrainerSummary.from_termination_message((terminated or {}).get("message"))
        if summary is None:
            return Outcome(
                "failed",
                reason="NoSummary",
                retryable=True,
                message="the trainer exited 0 without a summary in its termination message",
            )
        return Outcome("succeeded", summary=summary)
    if terminated is not None and terminated.get("exitCode", 0) != 0:
        return _failed_container(terminated)
    failed = _job_condition(job, "Failed")
    if failed is not None:
        if failed.get("reason") == "DeadlineExceeded":
            return Outcome(
                "failed",
                reason="DeadlineExceeded",
                retryable=True,
                message=f"training exceeded its time limit: {failed.get('message', '')}",
            )
        pod_message = (pod or {}).get("status", {}).get("message") or ""
        pod_reason = (pod or {}).get("status", {}).get("reason") or failed.get(
            "reason", "JobFailed"
        )
        if waiting is not None and waiting.get("reason") in HOPELESS_WAITING:
            return Outcome(
                "failed",
                reason="ImageCannotRun",
                retryable=False,
                message=waiting.get("message") or waiting.get("reason", ""),
            )
        return Outcome(
            "failed",
            reason=pod_reason,
            retryable=True,
            message=pod_message or failed.get("message", "the training Job failed"),
        )
    if waiting is not None and waiting.get("reason") in HOPELESS_WAITING:
        return Outcome(
            "failed",
            reason="ImageCannotRun",
            retryable=False,
            message=f"{waiting.get('reason')}: {waiting.get('message', '')}".strip(": "),
        )
    return Outcome("running")


def _failed_container(terminated: Obj) -> Outcome:
    code = terminated.get("exitCode")
    if terminated.get("reason") == "OOMKilled":
        return Outcome(
            "failed",
            reason="OOMKilled",
            retryable=False,
            message="the trainer ran out of memory; raise training.resources.limits.memory",
        )
    report = TrainerFailure.from_termination_message(terminated.get("message")) or TrainerFailure()
    message = report.error or f"the trainer exited with code {code}"
    if code == EXIT_BAD_INPUT:
        return Outcome(
            "failed", reason=report.reason or "BadInput", retryable=False, message=message
        )
    return Outcome(
        "failed",
        reason=report.reason or "TrainerError",
        retryable=True,
        message=f"exit code {code}: {message}",
    )
