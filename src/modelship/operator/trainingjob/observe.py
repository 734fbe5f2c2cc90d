"""Observe a TrainingJob: the current attempt's Job and pods, and the production champion when
a gate compares with it. The only reads before `decide`; the result is its typed input."""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import ModelStatus, TrainingJob
from modelship.contracts.gates import Champion
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import JOBS, MODEL_DEPLOYMENTS, MODELS, PODS
from modelship.operator.model.observation import deployments_of
from modelship.operator.trainingjob.builders import job_name
from modelship.operator.trainingjob.decide import AttemptObservation, needs_champion
from modelship.operator.trainingjob.outcome import read_outcome

Obj = dict[str, Any]


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
