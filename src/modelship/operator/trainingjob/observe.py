"""Observe a TrainingJob: the current attempt's Job and pods, and the production champion when
a gate compares with it. The only reads before `decide`; the result is its typed input.

Before an attempt's Job exists, a Model training on production rows (`spec.dataset.production`)
also needs where its captures are and which version serves production: the trainer is told
both (`ProductionSource`) and judges the live gate itself, since only it reads rows."""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import ModelStatus, ProductionStatus, TrainingJob
from modelship.contracts.gates import Champion
from modelship.contracts.production_data import ProductionSource
from modelship.operator.kube.client import Kube
from modelship.operator.kube.lookups import deployments_of_model
from modelship.operator.kube.resources import JOBS, MODELS, PODS
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
        production = None
        if tj.spec.snapshot.dataset.production is not None:
            production = production_source(kube, meta["namespace"], tj.spec.model_ref.name)
        return AttemptObservation(job_exists=False, production=production)
    outcome = read_outcome(job, kube.list(PODS, meta["namespace"], {"job-name": name}))
    champion = None
    if outcome.state == "succeeded" and needs_champion(tj):
        champion = production_champion(kube, meta["namespace"], tj.spec.model_ref.name)
    return AttemptObservation(job_exists=True, outcome=outcome, champion=champion)


def production_source(kube: Kube, namespace: str, model: str) -> ProductionSource:
    """The Model's capture store and the version its Deployments promoted last (with digest)."""
    newest = _newest_production(kube, namespace, model)
    model_body = kube.get(MODELS, namespace, model) or {}
    capture = ((model_body.get("spec") or {}).get("monitoring") or {}).get("capture") or {}
    store = capture.get("store")
    return ProductionSource(
        store=store if isinstance(store, str) and store else None,
        champion_version=newest.version if newest is not None else None,
        champion_digest=newest.digest if newest is not None else None,
    )


def production_champion(kube: Kube, namespace: str, model: str) -> Champion | None:
    """The newest production version of the Model and its held-out metrics, from Model status."""
    newest = _newest_production(kube, namespace, model)
    if newest is None:
        return None
    model_body = kube.get(MODELS, namespace, model) or {}
    for entry in ModelStatus.model_validate(model_body.get("status") or {}).versions:
        if entry.version == newest.version:
            return Champion(entry.version, dict(entry.metrics))
    return None


def _newest_production(kube: Kube, namespace: str, model: str) -> ProductionStatus | None:
    """The production status promoted last among the Model's Deployments."""
    promoted = sorted(
        (
            production
            for mdep in deployments_of(deployments_of_model(kube, namespace, model), model)
            if (production := mdep.status.production) is not None
            and production.version is not None
            and production.promoted_at
        ),
        key=lambda p: str(p.promoted_at),
    )
    return promoted[-1] if promoted else None
