"""Drive one TrainingJob from Pending to Succeeded or Failed, one training Job per attempt.

The attempt counter lives in the TrainingJob's status and is written *before* the attempt's Job is
created; the Job's name is derived from it. So a crash between the two steps finds the same Job on
restart, and re-creating a Job never resets the count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from pydantic import ValidationError

from modelship.api.v1alpha1 import PRIMARY_METRIC, TrainingJob, utcnow
from modelship.operator import events
from modelship.operator.conditions import set_condition_dict as set_condition
from modelship.operator.kube import JOBS, MODEL_DEPLOYMENTS, MODELS, PODS, TRAINING_JOBS, Kube
from modelship.operator.settings import OperatorSettings
from modelship.operator.status import first_error, status_patch
from modelship.operator.training_builders import build_training_pod_job, job_name
from modelship.operator.training_outcome import Outcome, evaluate_gates, read_outcome

Obj = dict[str, Any]
TERMINAL = ("Succeeded", "Failed")


def score(task: str, metrics: dict[str, float]) -> str | None:
    name = PRIMARY_METRIC[task]
    return f"{name}={metrics[name]:.4g}" if name in metrics else None


def backoff_seconds(attempt: int, settings: OperatorSettings) -> float:
    """Exponential back-off after the given failed attempt (1-based)."""
    delay: float = settings.retry_backoff_seconds * 2.0 ** (attempt - 1)
    return min(delay, settings.retry_backoff_max_seconds)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def reconcile_training_job(
    kube: Kube, settings: OperatorSettings, body: Obj, logger: kopf.Logger
) -> float | None:
    """Bring the TrainingJob one step closer to done; returns seconds to wait before re-checking."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    status: Obj = dict(body.get("status") or {})
    if status.get("phase") in TERMINAL:
        return None
    generation = meta.get("generation")
    try:
        tj = TrainingJob.model_validate(body)
    except ValidationError as exc:
        _finish(
            kube, body, status, "Failed", "InvalidSpec", first_error(exc, prefix=""), generation
        )
        return None

    attempts = int(status.get("attempts") or 0)
    if attempts == 0:
        attempts = 1
        status.update(attempts=1, phase="Pending", startTime=status.get("startTime") or utcnow())
        status["conditions"] = set_condition(
            status.get("conditions", []),
            "Succeeded",
            None,
            "Pending",
            "first training attempt is starting",
            generation,
        )
        _write(kube, body, status)

    name_of_job = job_name(name, attempts)
    job = kube.get(JOBS, namespace, name_of_job)
    if job is None:
        wait = _seconds_until(status.get("nextAttemptTime"))
        if wait > 0:
            return wait
        _, created = kube.ensure(
            JOBS, namespace, build_training_pod_job(body, tj.spec.snapshot, attempts, settings)
        )
        if created:
            events.normal(body, "TrainingStarted", f"attempt {attempts}: Job {name_of_job}")
        status.update(phase="Running", jobName=name_of_job)
        status.pop("nextAttemptTime", None)
        status["conditions"] = set_condition(
            status.get("conditions", []),
            "Succeeded",
            None,
            "Running",
            f"attempt {attempts} of {tj.spec.snapshot.training.max_attempts} is running",
            generation,
        )
        _write(kube, body, status)
        return settings.resync_seconds

    pods = kube.list(PODS, namespace, {"job-name": name_of_job})
    outcome = read_outcome(job, pods)
    if outcome.state == "running":
        return settings.resync_seconds
    if outcome.state == "succeeded":
        _succeed(kube, body, status, tj, outcome, generation)
        return None
    max_attempts = tj.spec.snapshot.training.max_attempts
    if outcome.retryable and attempts < max_attempts:
        delay = backoff_seconds(attempts, settings)
        status.update(
            attempts=attempts + 1,
            phase="Pending",
            failure={"reason": outcome.reason, "message": outcome.message},
            nextAttemptTime=(datetime.now(UTC) + timedelta(seconds=delay))
            .replace(microsecond=0)
            .isoformat()
            .replace("+00:00", "Z"),
        )
        status["conditions"] = set_condition(
            status.get("conditions", []),
            "Succeeded",
            None,
            "Retrying",
            f"attempt {attempts} failed ({outcome.reason}: {outcome.message}); "
            f"attempt {attempts + 1} of {max_attempts} in {delay:.0f}s",
            generation,
        )
        _write(kube, body, status)
        events.warning(
            body, "AttemptFailed", f"attempt {attempts}: {outcome.reason}: {outcome.message}"
        )
        logger.info("attempt %d failed (%s), retrying in %.0fs", attempts, outcome.reason, delay)
        return delay
    why = outcome.message
    if outcome.retryable:
        why = f"{why} (gave up after {attempts} attempts)"
    _finish(kube, body, status, "Failed", outcome.reason or "TrainingFailed", why, generation)
    return None


def _succeed(
    kube: Kube, body: Obj, status: Obj, tj: TrainingJob, outcome: Outcome, generation: int | None
) -> None:
    summary = outcome.summary
    snapshot = tj.spec.snapshot
    metrics = {
        k: float(v)
        for k, v in (summary.get("metrics") or {}).items()
        if isinstance(v, (int, float))
    }
    champion = (
        production_champion(kube, body)
        if any(g.min_improvement is not None for g in snapshot.evaluation.gates)
        else None
    )
    gates = evaluate_gates(snapshot.evaluation.gates, metrics, champion)
    failed_gates = [g for g in gates if not g.passed]
    status.update(
        phase="Succeeded",
        completionTime=utcnow(),
        version=int(summary["version"]),
        artifact={"uri": str(summary.get("artifactUri") or ""), "digest": str(summary["digest"])},
        metrics=metrics,
        gates=[g.to_wire() for g in gates],
        score=score(snapshot.task, metrics),
    )
    if summary.get("datasetDigest"):
        status["datasetDigest"] = str(summary["datasetDigest"])
    status.pop("failure", None)
    status.pop("nextAttemptTime", None)
    conditions = set_condition(
        status.get("conditions", []),
        "Succeeded",
        True,
        "VersionPublished",
        f"published version {summary['version']}",
        generation,
    )
    if failed_gates:
        detail = "; ".join(
            f"{g.metric} {g.value if g.value is not None else 'missing'} is not {g.bound}"
            for g in failed_gates
        )
        conditions = set_condition(
            conditions, "GatesPassed", False, "GateFailed", detail, generation
        )
    else:
        conditions = set_condition(
            conditions,
            "GatesPassed",
            True,
            "AllGatesPassed",
            f"{len(gates)} gate(s) passed",
            generation,
        )
    status["conditions"] = conditions
    _write(kube, body, status)
    message = f"version {summary['version']} ({status.get('score') or 'no primary metric'})"
    if failed_gates:
        events.warning(body, "GateFailed", f"{message}: {detail}")
    else:
        events.normal(body, "TrainingSucceeded", message)


def production_champion(kube: Kube, body: Obj) -> tuple[int, dict[str, float]] | None:
    """The newest production version of this TrainingJob's Model and its held-out metrics."""
    namespace, model = body["metadata"]["namespace"], body["spec"]["modelRef"]["name"]
    serving = sorted(
        (
            (d.get("status") or {}).get("production") or {}
            for d in kube.list(MODEL_DEPLOYMENTS, namespace)
            if (d.get("spec") or {}).get("modelRef", {}).get("name") == model
        ),
        key=lambda p: str(p.get("promotedAt") or ""),
    )
    versions = [int(p["version"]) for p in serving if p.get("version") and p.get("promotedAt")]
    if not versions:
        return None
    model_body = kube.get(MODELS, namespace, model) or {}
    for entry in (model_body.get("status") or {}).get("versions") or []:
        if int(entry.get("version", 0)) == versions[-1]:
            return versions[-1], {k: float(v) for k, v in (entry.get("metrics") or {}).items()}
    return None


def _finish(
    kube: Kube,
    body: Obj,
    status: Obj,
    phase: str,
    reason: str,
    message: str,
    generation: int | None,
) -> None:
    status.update(
        phase=phase, completionTime=utcnow(), failure={"reason": reason, "message": message}
    )
    status.pop("nextAttemptTime", None)
    status["conditions"] = set_condition(
        status.get("conditions", []), "Succeeded", False, reason, message, generation
    )
    _write(kube, body, status)
    events.warning(body, "TrainingFailed", f"{reason}: {message}")


def _write(kube: Kube, body: Obj, status: Obj) -> None:
    status["observedGeneration"] = body["metadata"].get("generation")
    old = body.get("status") or {}
    if status != old:
        meta = body["metadata"]
        kube.patch(
            TRAINING_JOBS,
            meta["namespace"],
            meta["name"],
            {"status": status_patch(old, status)},
            status=True,
        )
        body["status"] = dict(status)


def _seconds_until(timestamp: str | None) -> float:
    if not timestamp:
        return 0.0
    return max(0.0, (_parse_time(timestamp) - datetime.now(UTC)).total_seconds())
