"""What a TrainingJob should do next, decided without I/O from what the controller observed.

One pass of the state machine: `decide` takes the typed TrainingJob, what its current attempt's
Job and pod say, and the time, and returns the next status, the actions to take and when to look
again. The attempt counter moves *before* an attempt's Job exists: the first pass of an attempt
only records it (and asks to be called again at once), a later pass creates the Job whose name is
derived from it. So a crash between the two finds the same Job, and re-creating a Job never resets
the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelship.api.v1alpha1 import (
    PRIMARY_METRIC,
    Artifact,
    Failure,
    GateResult,
    ProductionRowsStatus,
    TrainingJob,
    TrainingJobStatus,
)
from modelship.api.v1alpha1.base import parse_rfc3339, rfc3339
from modelship.contracts.gates import Champion, evaluate_gates
from modelship.contracts.production_data import LIVE_GATE_PREFIX, ProductionSource
from modelship.contracts.training import TrainerSummary
from modelship.contracts.training_code import (
    TRUSTED_TYPE_NOT_ALLOWED,
    not_allowed_message,
    types_not_allowed,
)
from modelship.operator.kube.actions import CreateJob, PostEvent, RequeueAfter
from modelship.operator.kube.conditions import set_condition
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.builders import build_training_pod_job, job_name
from modelship.operator.trainingjob.outcome import Outcome

TERMINAL = ("Succeeded", "Failed")
RUNNING = Outcome("running")


Action = CreateJob | PostEvent
Obj = dict[str, Any]


@dataclass(frozen=True)
class AttemptObservation:
    """The current attempt as observed: does its Job exist, what do its pods say."""

    job_exists: bool
    outcome: Outcome = RUNNING
    champion: Champion | None = None
    production: ProductionSource | None = None
    """Before the attempt's Job exists, for spec.dataset.production: what the trainer is told."""


@dataclass(frozen=True)
class Decision:
    """The status to write, what to do first, and when to reconcile again (None: only on events)."""

    status: TrainingJobStatus
    actions: tuple[Action, ...] = ()
    requeue_after: RequeueAfter = None


def fmt(moment: datetime) -> str:
    return rfc3339(moment)


def backoff_seconds(attempt: int, settings: OperatorSettings) -> float:
    """Exponential back-off after the given failed attempt (1-based)."""
    delay: float = settings.retry_backoff_seconds * 2.0 ** (attempt - 1)
    return min(delay, settings.retry_backoff_max_seconds)


def score(task: str, metrics: dict[str, float]) -> str | None:
    name = PRIMARY_METRIC[task]
    return f"{name}={metrics[name]:.4g}" if name in metrics else None


def needs_champion(tj: TrainingJob) -> bool:
    """Whether judging this run needs the production version's metrics (read only then)."""
    return any(g.min_improvement is not None for g in tj.spec.snapshot.evaluation.gates)


def decide(
    tj: TrainingJob,
    body: Obj,
    generation: int | None,
    observed: AttemptObservation,
    now: datetime,
    settings: OperatorSettings,
) -> Decision:
    """Bring the TrainingJob one step closer to done (pure). `body` is the TrainingJob as read:
    its name, namespace and uid name and own the attempt's Job."""
    name = str(body["metadata"]["name"])
    old = tj.status
    if old.phase in TERMINAL:
        return Decision(old)
    status = old.model_copy(deep=True, update={"observed_generation": generation})
    code = tj.spec.snapshot.training.code
    if (
        status.attempts == 0
        and code is not None
        and (refused := types_not_allowed(code.trusted_types, settings.allowed_artifact_types))
    ):
        # A policy refusal, not a fault: no pod is started and nothing is retried. (Checked
        # before the first attempt; every attempt's pod checks again with the list it is given.)
        message = not_allowed_message(refused)
        return failed(status, TRUSTED_TYPE_NOT_ALLOWED, message, generation, now)
    if status.attempts == 0:
        status.attempts, status.phase = 1, "Pending"
        status.start_time = status.start_time or fmt(now)
        status.conditions = set_condition(
            status.conditions,
            "Succeeded",
            None,
            "Pending",
            "first training attempt is starting",
            generation,
            fmt(now),
        )
        return Decision(status, requeue_after=0)  # the Job is created once this is stored
    attempt = status.attempts
    max_attempts = tj.spec.snapshot.training.max_attempts
    if not observed.job_exists:
        wait = _seconds_until(status.next_attempt_time, now)
        if wait > 0:
            return Decision(old, requeue_after=wait)
        status.phase, status.job_name = "Running", job_name(name, attempt)
        status.next_attempt_time = None
        status.conditions = set_condition(
            status.conditions,
            "Succeeded",
            None,
            "Running",
            f"attempt {attempt} of {max_attempts} is running",
            generation,
            fmt(now),
        )
        started = f"attempt {attempt}: Job {status.job_name}"
        job = build_training_pod_job(
            body, tj.spec.snapshot, attempt, settings, production=observed.production
        )
        create = CreateJob(job, announce=PostEvent.normal("TrainingStarted", started))
        return Decision(status, (create,), settings.resync_seconds)

    outcome = observed.outcome
    if outcome.state == "running":
        return Decision(old, requeue_after=settings.resync_seconds)
    if outcome.state == "succeeded" and outcome.summary is not None:
        return _succeeded(tj, status, outcome.summary, observed.champion, generation, now)
    if outcome.retryable and attempt < max_attempts:
        delay = backoff_seconds(attempt, settings)
        status.attempts, status.phase = attempt + 1, "Pending"
        status.failure = Failure(reason=outcome.reason, message=outcome.message)
        status.next_attempt_time = fmt(now + timedelta(seconds=delay))
        status.conditions = set_condition(
            status.conditions,
            "Succeeded",
            None,
            "Retrying",
            f"attempt {attempt} failed ({outcome.reason}: {outcome.message}); "
            f"attempt {attempt + 1} of {max_attempts} in {delay:.0f}s",
            generation,
            fmt(now),
        )
        event = PostEvent(
            "Warning", "AttemptFailed", f"attempt {attempt}: {outcome.reason}: {outcome.message}"
        )
        return Decision(status, (event,), delay)
    why = outcome.message
    if outcome.retryable:
        why = f"{why} (gave up after {attempt} attempts)"
    return failed(status, outcome.reason or "TrainingFailed", why, generation, now)


def failed(
    status: TrainingJobStatus, reason: str, message: str, generation: int | None, now: datetime
) -> Decision:
    """The run is over without a version: an invalid spec, bad input, or retries used up."""
    if status.phase in TERMINAL:
        return Decision(status)
    status = status.model_copy(deep=True, update={"observed_generation": generation})
    status.phase, status.completion_time = "Failed", fmt(now)
    status.failure = Failure(reason=reason, message=message)
    status.next_attempt_time = None
    status.conditions = set_condition(
        status.conditions, "Succeeded", False, reason, message, generation, fmt(now)
    )
    return Decision(status, (PostEvent("Warning", "TrainingFailed", f"{reason}: {message}"),))


def _succeeded(
    tj: TrainingJob,
    status: TrainingJobStatus,
    summary: TrainerSummary,
    champion: Champion | None,
    generation: int | None,
    now: datetime,
) -> Decision:
    snapshot = tj.spec.snapshot
    gates = evaluate_gates(snapshot.evaluation.gates, summary.metrics, champion)
    if summary.production is not None and (live := summary.production.live_gate) is not None:
        # Judged by the trainer, the only one that reads the held-out production rows.
        gates.append(GateResult(metric=LIVE_GATE_PREFIX + live.metric, value=live.candidate,
                                bound=live.bound, passed=live.passed))  # fmt: skip
    failed_gates = [g for g in gates if not g.passed]
    status.phase, status.completion_time = "Succeeded", fmt(now)
    status.version = summary.version
    status.artifact = Artifact(uri=summary.artifact_uri, digest=summary.digest)
    status.metrics, status.gates = dict(summary.metrics), gates
    status.score = score(snapshot.task, summary.metrics)
    status.dataset_digest = summary.dataset_digest or status.dataset_digest
    status.code_digest = summary.code_digest or status.code_digest
    if (used := summary.production) is not None:
        status.production = ProductionRowsStatus(
            rows=used.rows, holdout_rows=used.holdout_rows, window_from=used.window_from,
            window_to=used.window_to, weight=used.weight, rows_digest=used.rows_digest,
        )  # fmt: skip
    status.failure, status.next_attempt_time = None, None
    conditions = set_condition(
        status.conditions,
        "Succeeded",
        True,
        "VersionPublished",
        f"published version {summary.version}",
        generation,
        fmt(now),
    )
    message = f"version {summary.version} ({status.score or 'no primary metric'})"
    if failed_gates:
        detail = "; ".join(
            f"{g.metric} {g.value if g.value is not None else 'missing'} is not {g.bound}"
            for g in failed_gates
        )
        conditions = set_condition(
            conditions, "GatesPassed", False, "GateFailed", detail, generation, fmt(now)
        )
        event = PostEvent("Warning", "GateFailed", f"{message}: {detail}")
    else:
        conditions = set_condition(
            conditions,
            "GatesPassed",
            True,
            "AllGatesPassed",
            f"{len(gates)} gate(s) passed",
            generation,
            fmt(now),
        )
        event = PostEvent("Normal", "TrainingSucceeded", message)
    status.conditions = conditions
    return Decision(status, (event,))


def _seconds_until(timestamp: str | None, now: datetime) -> float:
    if not timestamp:
        return 0.0
    moment = parse_rfc3339(timestamp)
    return max(0.0, (moment - now).total_seconds())
