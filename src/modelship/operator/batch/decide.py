"""What a BatchPrediction should do next, decided without I/O from what was observed.

Pending → (version resolved and pinned) Planning → (rows counted) Running → (every shard has a
part) Assembling → Succeeded, or Failed with the reason at any step. Assembly that finds parts
missing (deleted, or lost with a node) sends the run back to Running with a new scoring Job:
shards whose parts exist finish at once, only the missing ones are scored again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from modelship.api.v1alpha1 import BatchPrediction, BatchPredictionStatus, Condition
from modelship.api.v1alpha1.base import parse_rfc3339, rfc3339
from modelship.api.v1alpha1.batch import BatchFailure, BatchOutputStatus, ShardCounts
from modelship.contracts.batch import BatchReport, BatchStep
from modelship.operator.batch.builders import build_job, job_name, output_dir
from modelship.operator.batch.observation import JobReading, Observation
from modelship.operator.batch.resolve import Refusal, resolve
from modelship.operator.kube.actions import CreateJob, PostEvent, RequeueAfter
from modelship.operator.kube.conditions import set_condition
from modelship.operator.settings import OperatorSettings

TERMINAL = ("Succeeded", "Failed")
# Scoring attempts a run may take: the first, and resumes after parts went missing.
MAX_ATTEMPTS = 3
Obj = dict[str, object]


@dataclass(frozen=True)
class DeleteSelf:
    """ttlSecondsAfterFinished elapsed: delete the BatchPrediction (its Jobs go with it)."""


Action = CreateJob | PostEvent | DeleteSelf


@dataclass(frozen=True)
class Decision:
    status: BatchPredictionStatus
    actions: tuple[Action, ...] = ()
    requeue_after: RequeueAfter = None


def current_step(status: BatchPredictionStatus) -> tuple[BatchStep, int] | None:
    """The step whose Job the next reconcile reads (None: no Job matters now)."""
    if status.phase == "Planning":
        return "plan", 1
    if status.phase == "Running":
        return "shard", status.attempt
    if status.phase == "Assembling":
        return "assemble", status.attempt
    return None


def needs_facts(status: BatchPredictionStatus) -> bool:
    return status.resolved is None and status.phase not in TERMINAL


def decide(
    bp: BatchPrediction, body: dict[str, object], generation: int | None, observed: Observation,
    now: datetime, settings: OperatorSettings,
) -> Decision:  # fmt: skip
    old = bp.status
    if old.phase in TERMINAL:
        return _after_finish(bp, now)
    status = old.model_copy(deep=True, update={"observed_generation": generation})
    meta = body["metadata"]
    assert isinstance(meta, dict)
    directory = output_dir(bp.spec, str(meta["namespace"]), str(meta["name"]), settings)
    if status.resolved is None:
        if observed.facts is None:
            return Decision(old, requeue_after=0)
        resolved = resolve(bp.spec, observed.facts)
        if isinstance(resolved, Refusal):
            return failed(status, resolved.reason, resolved.message, generation, now)
        status.resolved, status.phase = resolved, "Planning"
        status.start_time = status.start_time or rfc3339(now)
        who = f", approved by {resolved.approved_by}" if resolved.approved_by else ""
        backtest = "" if resolved.approved else " (not approved: backtest)"
        message = f"version {resolved.version} ({resolved.digest}){who}{backtest}"
        status.conditions = _progress(status, "Resolved", message, generation, now)
        return Decision(status, (PostEvent.normal("VersionPinned", message),), 0)
    resolved = status.resolved
    step = current_step(status)
    if step is None:
        return Decision(old)
    name, attempt = step
    job = observed.job
    if job.state == "absent":
        built = build_job(body, bp.spec, resolved, name, attempt, directory, settings)
        what = f"{name} Job {job_name(str(meta['name']), name, attempt)}"
        return Decision(status, (CreateJob(built, PostEvent.normal("JobStarted", what)),),
                        settings.resync_seconds)  # fmt: skip
    if name == "shard":
        status.shards = ShardCounts(
            succeeded=job.succeeded, running=job.running, failed=job.failed,
            retried=status.shards.retried,
        )  # fmt: skip
    if job.state == "running":
        return Decision(status, (), settings.resync_seconds)
    if job.state == "failed":
        return _job_failed(status, name, job, generation, now)
    report = job.report
    if name == "plan":
        if report is None or report.rows is None or report.input_digest is None:
            return failed(status, "PlanUnreadable", "the plan Job left no report", generation, now)
        shards = max(1, -(-report.rows // bp.spec.sharding.rows_per_shard))
        status.resolved = resolved.model_copy(
            update={"rows": report.rows, "input_digest": report.input_digest, "shards": shards}
        )
        status.phase, status.attempt = "Running", 1
        message = f"{report.rows} rows in {shards} shard(s), input {report.input_digest}"
        status.conditions = _progress(status, "Planned", message, generation, now)
        return Decision(status, (PostEvent.normal("Planned", message),), 0)
    if name == "shard":
        status.phase = "Assembling"
        message = f"{resolved.shards} shard(s) scored (attempt {attempt})"
        status.conditions = _progress(status, "Scored", message, generation, now)
        return Decision(status, (PostEvent.normal("ShardsScored", message),), 0)
    return _assembled(status, report, generation, now)


def _assembled(
    status: BatchPredictionStatus, report: BatchReport | None, generation: int | None,
    now: datetime,
) -> Decision:  # fmt: skip
    if report is None:
        return failed(status, "AssembleUnreadable", "the assemble Job left no report",
                      generation, now)  # fmt: skip
    if report.reason == "PartsMissing":
        if status.attempt >= MAX_ATTEMPTS:
            return failed(status, "PartsMissing", f"{report.error} after {status.attempt} "
                          "scoring attempts", generation, now)  # fmt: skip
        status.attempt += 1
        status.phase = "Running"
        status.shards = status.shards.model_copy(
            update={"retried": status.shards.retried + len(report.missing_shards)}
        )
        message = f"{report.error}; scoring them again (attempt {status.attempt})"
        status.conditions = _progress(status, "Resuming", message, generation, now)
        return Decision(status, (PostEvent.warning("PartsMissing", message),), 0)
    if not report.ok:
        return failed(status, report.reason or "AssembleFailed", report.error or "", generation,
                      now)  # fmt: skip
    status.output = BatchOutputStatus(
        ref=report.output_ref or "", digest=report.output_digest or "", rows=report.rows or 0,
        error_rows=report.error_rows or 0, errors_ref=report.errors_ref,
    )  # fmt: skip
    status.phase, status.completion_time = "Succeeded", rfc3339(now)
    message = f"{status.output.rows} rows scored, {status.output.error_rows} unscorable; " + (
        f"{status.output.ref} ({status.output.digest})"
    )
    status.conditions = set_condition(
        status.conditions, "Succeeded", True, "OutputWritten", message, generation, rfc3339(now)
    )
    return Decision(status, (PostEvent.normal("Succeeded", message),), 0)


def _job_failed(
    status: BatchPredictionStatus, step: BatchStep, job: JobReading, generation: int | None,
    now: datetime,
) -> Decision:  # fmt: skip
    report = job.report
    if report is not None and not report.ok:
        where = f"shard {report.shard}: " if report.shard is not None else ""
        return failed(status, report.reason or "StepFailed", f"{where}{report.error}",
                      generation, now)  # fmt: skip
    indexes = f" (failed shards {job.failed_indexes})" if job.failed_indexes else ""
    why = job.message or "its pods failed"
    return failed(status, f"{step.capitalize()}JobFailed", f"{why}{indexes}", generation, now)


def failed(
    status: BatchPredictionStatus, reason: str, message: str, generation: int | None,
    now: datetime,
) -> Decision:  # fmt: skip
    status = status.model_copy(deep=True, update={"observed_generation": generation})
    status.phase, status.completion_time = "Failed", rfc3339(now)
    status.failure = BatchFailure(reason=reason, message=message)
    status.conditions = set_condition(
        status.conditions, "Succeeded", False, reason, message, generation, rfc3339(now)
    )
    return Decision(status, (PostEvent.warning(reason, message),), 0)


def _progress(
    status: BatchPredictionStatus, reason: str, message: str, generation: int | None,
    now: datetime,
) -> list[Condition]:  # fmt: skip
    return set_condition(
        status.conditions, "Succeeded", None, reason, message, generation, rfc3339(now)
    )


def _after_finish(bp: BatchPrediction, now: datetime) -> Decision:
    """A finished run waits out ttlSecondsAfterFinished, then asks to be deleted."""
    ttl, done = bp.spec.ttl_seconds_after_finished, bp.status.completion_time
    if ttl is None or done is None:
        return Decision(bp.status)
    remaining = (parse_rfc3339(done) + timedelta(seconds=ttl) - now).total_seconds()
    if remaining > 0:
        return Decision(bp.status, requeue_after=remaining)
    return Decision(bp.status, (DeleteSelf(),))
