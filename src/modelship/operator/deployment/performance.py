"""Decide the live evaluation: start the evaluation Job when due, record what it reported (pure).

An evaluation is due every `spec.monitoring.evaluation.intervalSeconds` after the last one
started (a failed run waits for the next interval too: never a tight loop), and at once when the
annotation `evaluation.modelship.io/requested` takes a value not yet acted on (its domain is not
`modelship.io/`: Kopf leaves those annotations out of the changes it reacts to). One Job runs
at a time per Deployment; the next is named by the next run number. A finished Job is read (its
termination message: per-version totals, contracts/evaluation.py), recorded in
status.performance beside each version's offline test metric, and deleted: its result lives in
status, and clusters before Kubernetes 1.21 do not delete finished Jobs by TTL.
"""

from __future__ import annotations

from datetime import timedelta

from modelship.api.v1alpha1 import (
    EVALUATE_ANNOTATION,
    LabelFileStatus,
    LiveMetric,
    PerformanceStatus,
    ServedPerformance,
)
from modelship.api.v1alpha1.base import parse_rfc3339
from modelship.contracts.evaluation import EvaluationReport, VersionTotals
from modelship.operator.deployment.actions import Draft
from modelship.operator.deployment.builders.evaluation import (
    build_evaluation_job,
    evaluation_job_name,
    served_versions,
)
from modelship.operator.deployment.observation import ModelView, Observation, Subject
from modelship.operator.kube.actions import CreateJob
from modelship.operator.kube.resources import JOBS
from modelship.operator.settings import OperatorSettings

RUNNING_SECONDS = 5.0
"""How soon to look again while a Job runs (its end is also an event we watch)."""


def decide_evaluation(
    draft: Draft, subject: Subject, seen: Observation, settings: OperatorSettings
) -> float | None:
    """Start, wait for or record the evaluation; returns when to look again (None: no need)."""
    mdep, model = subject.mdep, seen.model
    assert mdep is not None and model is not None
    spec = mdep.spec.monitoring.evaluation
    performance = draft.status.performance
    if performance is not None and performance.job is not None:
        job = seen.evaluation
        if job is not None and not job.finished:
            return RUNNING_SECONDS
        _record(draft, performance, job.report if job else None, job.failure if job else None,
                model)  # fmt: skip
        draft.delete(JOBS, performance.job)
        performance.job = None
    requested = (subject.body["metadata"].get("annotations") or {}).get(EVALUATE_ANNOTATION)
    asked = requested is not None and requested != (performance.requested if performance else None)
    wait = _until_due(performance, spec.interval_seconds, draft.now)
    versions = served_versions(draft.status)
    if not versions or not (asked or wait == 0.0):
        return wait
    performance = performance or PerformanceStatus()
    performance.runs += 1
    performance.job = evaluation_job_name(subject.name, performance.runs)
    performance.started_at = draft.now
    if asked:
        performance.requested = requested
    draft.status.performance = performance
    body = build_evaluation_job(
        subject.body, performance.runs, versions, spec, model.task, model.monitoring, settings
    )
    draft.actions.append(CreateJob(body))
    return RUNNING_SECONDS


def _until_due(
    performance: PerformanceStatus | None, interval: int | None, now: str
) -> float | None:
    """Seconds until the next scheduled run (0: due now; None: no schedule)."""
    if interval is None:
        return None
    if performance is None or performance.started_at is None:
        return 0.0
    due = parse_rfc3339(performance.started_at) + timedelta(seconds=interval)
    return max(0.0, (due - parse_rfc3339(now)).total_seconds())


def _record(
    draft: Draft,
    performance: PerformanceStatus,
    report: EvaluationReport | None,
    failure: str | None,
    model: ModelView,
) -> None:
    """What a finished Job reported: the totals, or why there are none (previous totals kept),
    and what it made of the label files."""
    if report is not None and (report.label_files is not None or report.versions is not None):
        _record_label_files(draft, performance, report.label_files or [])
    if report is None or report.versions is None:
        error = (report.error if report else None) or failure or "the Job left no report"
        performance.error = error
        draft.event("EvaluationFailed", f"live evaluation failed: {error}", warning=True)
        return
    performance.error = None
    performance.versions = [_served(totals, model) for totals in report.versions]
    performance.labels = report.labels
    performance.orphan_labels = report.orphan_labels
    performance.window_from = report.window_from
    performance.window_to = report.window_to
    performance.evaluated_at = report.evaluated_at or draft.now
    performance.live = live_summary(performance.versions)


def _record_label_files(
    draft: Draft, performance: PerformanceStatus, files: list[LabelFileStatus]
) -> None:
    """Keep each file's outcome; an Event for a file that failed or was stored now."""
    performance.label_files = files
    for file in files:
        refused = ", ".join(f"{reason} {count}" for reason, count in file.refused.items())
        refused_text = f"; refused: {refused}" if refused else ""
        if file.outcome == "failed":
            draft.event(
                "LabelFileFailed", f"label file {file.uri}: {file.error}{refused_text}",
                warning=True,
            )  # fmt: skip
        elif file.outcome == "ingested":
            draft.event(
                "LabelFileIngested",
                f"label file {file.uri} ({file.digest}): {file.accepted} of {file.rows} rows "
                f"stored as labels{refused_text}",
            )


def _served(totals: VersionTotals, model: ModelView) -> ServedPerformance:
    return ServedPerformance(
        version=totals.version,
        digest=totals.digest,
        role=totals.role,
        metric=totals.metric,
        value=totals.value,
        low=totals.low,
        high=totals.high,
        method=totals.method,
        confidence=totals.confidence,
        labelled=totals.labelled,
        captured=totals.captured,
        coverage=totals.coverage,
        offline=offline_metric(model, totals.version, totals.digest, totals.metric),
    )


def offline_metric(model: ModelView, version: int, digest: str, metric: LiveMetric) -> float | None:
    """The version's held-out value of `metric`, as its TrainingJob recorded it on the Model."""
    summaries = [*model.status.versions]
    if model.status.latest_version is not None:
        summaries.append(model.status.latest_version)
    for summary in summaries:
        if summary.version == version and summary.digest == digest:
            return summary.metrics.get(metric)
    return None


def live_summary(versions: list[ServedPerformance]) -> str | None:
    """Production's figure for `kubectl get`: `accuracy=0.912 [0.874,0.941] n=312`."""
    for served in versions:
        if served.role != "production":
            continue
        if served.value is None or served.low is None or served.high is None:
            return f"{served.metric}: no labels (captured {served.captured})"
        return (
            f"{served.metric}={served.value:.3f} [{served.low:.3f},{served.high:.3f}] "
            f"n={served.labelled}"
        )
    return None
