"""Drive one TrainingJob from Pending to Succeeded or Failed, one training Job per attempt.

Each reconcile observes (the current attempt's Job and pods, and the production champion when a
gate needs it), lets the pure `trainingjob_decide.decide` choose, and applies the decision in one
place: create the Job, write the status once, post the Events. The status write goes through
`typed_status_patch`, so a pass that changes nothing makes no API call.
"""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from modelship.api.v1alpha1 import ModelStatus, TrainingJob, TrainingJobStatus
from modelship.contracts.gates import Champion
from modelship.operator.kube.actions import CreateJob, PostEvent, now
from modelship.operator.kube.client import Kube
from modelship.operator.kube.perform import create_job, post_events, write_status
from modelship.operator.kube.resources import JOBS, MODEL_DEPLOYMENTS, MODELS, PODS, TRAINING_JOBS
from modelship.operator.kube.status import first_error
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.model.observation import deployments_of
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.builders import job_name
from modelship.operator.trainingjob.decide import (
    TERMINAL,
    AttemptObservation,
    Decision,
    decide,
    failed,
    needs_champion,
)
from modelship.operator.trainingjob.outcome import read_outcome

Obj = dict[str, Any]
# A pass that only records a new attempt asks to run again at once; more than this in one call
# would mean the status write is not being seen, and the handler's next call will retry.
MAX_PASSES = 3

__all__ = ["TERMINAL", "production_champion", "reconcile_training_job"]


def reconcile_training_job(
    kube: Kube,
    settings: OperatorSettings,
    body: Obj,
    logger: kopf.Logger,
    metrics: OperatorMetrics | None = None,
) -> float | None:
    """Bring the TrainingJob closer to done; returns seconds until it wants to be looked at again.

    None means only events matter now (the run is over).
    """
    meta = body["metadata"]
    for _ in range(MAX_PASSES):
        decision = _decide(kube, settings, body)
        _apply(kube, body, decision, logger, metrics)
        if decision.requeue_after != 0:
            return decision.requeue_after
        fresh = kube.get(TRAINING_JOBS, meta["namespace"], meta["name"])
        if fresh is None or fresh["metadata"].get("deletionTimestamp"):
            return None
        body = fresh
    return settings.resync_seconds


def _decide(kube: Kube, settings: OperatorSettings, body: Obj) -> Decision:
    meta = body["metadata"]
    generation = meta.get("generation")
    moment = now()
    try:
        tj = TrainingJob.model_validate(body)
    except ValidationError as exc:
        status = TrainingJobStatus.model_validate(body.get("status") or {})
        return failed(status, "InvalidSpec", first_error(exc, prefix=""), generation, moment)
    if tj.status.phase in TERMINAL:
        return Decision(tj.status)
    observed = observe(kube, body, tj)
    return decide(tj, body, generation, observed, moment, settings)


def observe(kube: Kube, body: Obj, tj: TrainingJob) -> AttemptObservation:
    """The current attempt's Job and pods; the champion only when a gate compares with it."""
    meta = body["metadata"]
    if tj.status.attempts == 0:
        return AttemptObservation(job_exists=False)
    name = job_name(meta["name"], tj.status.attempts)
    job = kube.get(JOBS, meta["namespace"], name)
    if job is None:
        return AttemptObservation(job_exists=False)
    outcome = read_outcome(job, kube.list(PODS, meta["namespace"], {"job-name": name}))
    champion = None
    if outcome.state == "succeeded" and needs_champion(tj):
        champion = production_champion(kube, meta["namespace"], tj.spec.model_ref.name)
    return AttemptObservation(job_exists=True, outcome=outcome, champion=champion)


def _apply(
    kube: Kube,
    body: Obj,
    decision: Decision,
    logger: kopf.Logger,
    metrics: OperatorMetrics | None,
) -> None:
    """Create what the decision asks for, write status once, then post its Events."""
    posted: list[PostEvent] = []
    for action in decision.actions:
        if isinstance(action, CreateJob):
            create_job(kube, body, action)
        else:
            posted.append(action)
    old = TrainingJobStatus.model_validate(body.get("status") or {})
    written = write_status(kube, TRAINING_JOBS, body, old, decision.status)
    if written:
        body["status"] = decision.status.to_wire()
    if written and metrics is not None:
        spec = body.get("spec") or {}
        model = str((spec.get("modelRef") or {}).get("name", ""))
        trigger = str(spec.get("trigger", ""))
        metrics.training_job_written(
            body["metadata"]["namespace"], model, trigger, old, decision.status
        )
    post_events(body, posted)
    for event in posted:
        logger.info("%s: %s", event.reason, event.message)


def production_champion(kube: Kube, namespace: str, model: str) -> Champion | None:
    """The newest production version of the Model and its held-out metrics, from Model status."""
    promoted = sorted(
        (
            production
            for mdep in deployments_of(kube.list(MODEL_DEPLOYMENTS, namespace), model)
            if (production := mdep.status.production) is not None
            and production.version is not None
            and production.promoted_at
        ),
        key=lambda p: str(p.promoted_at),
    )
    if not promoted:
        return None
    newest = promoted[-1].version
    model_body = kube.get(MODELS, namespace, model) or {}
    for entry in ModelStatus.model_validate(model_body.get("status") or {}).versions:
        if entry.version == newest:
            return Champion(entry.version, dict(entry.metrics))
    return None
