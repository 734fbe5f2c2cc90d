"""Keep each Model trained: observe its TrainingJobs and Deployments, decide, apply.

`observe` reads what the decision needs (the Model's own TrainingJobs, its Deployments when drift
can retrain it, the dataset's validator when its changes can), `model_decide.decide` is pure, and
`apply` performs the actions in one place and writes status once (`kube.perform.write_status`).
"""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from modelship.api.v1alpha1 import Model, ModelStatus
from modelship.operator.kube.actions import PostEvent, now
from modelship.operator.kube.catalog_access import uses_volume
from modelship.operator.kube.client import Kube
from modelship.operator.kube.naming import LABEL_MODEL
from modelship.operator.kube.perform import post_events, write_status
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS, PVCS, TRAINING_JOBS
from modelship.operator.kube.status import first_error
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.model.builders import build_catalog_claim, build_training_job
from modelship.operator.model.dataset_probe import DatasetProbe
from modelship.operator.model.decide import (
    CreateTrainingJob,
    DeleteTrainingJob,
    EnsureCatalogClaim,
    ModelDecision,
    decide,
    decide_invalid,
    training_requests,
)
from modelship.operator.model.observation import (
    ModelMeta,
    ModelObservation,
    ObservedTrainingJob,
    deployments_of,
)
from modelship.operator.model.retraining import TrainingRequest
from modelship.operator.model.summary import version_summaries
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]

__all__ = [
    "TrainingRequest",
    "observe",
    "reconcile_model",
    "training_requests",
    "version_summaries",
]


def reconcile_model(
    kube: Kube,
    settings: OperatorSettings,
    body: Obj,
    logger: kopf.Logger,
    probe: DatasetProbe | None = None,
    metrics: OperatorMetrics | None = None,
) -> None:
    meta = ModelMeta.from_body(body)
    moment = now()
    try:
        model = Model.model_validate(body)
    except ValidationError as exc:
        old = ModelStatus.model_validate(body.get("status") or {})
        decision = decide_invalid(old, meta.generation, first_error(exc), moment)
        apply(kube, settings, body, None, decision, logger)
        return
    observed = observe(kube, body, model, probe)
    decision = decide(model, meta, observed, moment, settings.versions_in_status)
    old = ModelStatus.model_validate(body.get("status") or {})
    apply(kube, settings, body, model, decision, logger)
    if metrics is not None:
        metrics.model_written(meta.namespace, meta.name, old, decision.status)


def owned_training_jobs(kube: Kube, body: Obj) -> list[Obj]:
    meta = body["metadata"]
    uid = meta.get("uid")
    return [
        tj
        for tj in kube.list(TRAINING_JOBS, meta["namespace"], {LABEL_MODEL: meta["name"]})
        if any(ref.get("uid") == uid for ref in tj["metadata"].get("ownerReferences", []))
    ]


def observe(kube: Kube, body: Obj, model: Model, probe: DatasetProbe | None) -> ModelObservation:
    """The Model's TrainingJobs; its Deployments and dataset only when the policy looks at them."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    policy = model.spec.retraining
    tjs = [ObservedTrainingJob.from_body(tj) for tj in owned_training_jobs(kube, body)]
    deployments = (
        deployments_of(kube.list(MODEL_DEPLOYMENTS, namespace), name)
        if policy.drift is not None
        else []
    )
    checked = None
    if policy.on_dataset_change and probe is not None:
        checked = probe.check((namespace, name), model.spec.dataset.uri)
    return ModelObservation(tjs, deployments, checked)


def apply(
    kube: Kube,
    settings: OperatorSettings,
    body: Obj,
    model: Model | None,
    decision: ModelDecision,
    logger: kopf.Logger,
) -> None:
    """Claim, create, write status once, post Events, prune: in that order."""
    namespace = body["metadata"]["namespace"]
    later: list[PostEvent | DeleteTrainingJob] = []
    for action in decision.actions:
        if isinstance(action, EnsureCatalogClaim):
            if uses_volume(settings):  # a registry catalog needs no claim in the namespace
                kube.ensure(PVCS, namespace, build_catalog_claim(namespace, settings))
        elif isinstance(action, CreateTrainingJob):
            assert model is not None  # only decided for a valid spec
            tj_body = build_training_job(
                body, model.spec, action.trigger, action.reason, action.key
            )
            tj, created = kube.ensure(TRAINING_JOBS, namespace, tj_body)
            tj_name = tj["metadata"]["name"]
            if created and action.announce:
                message = f"{tj_name} ({action.trigger}): {action.reason}"
                post_events(body, [PostEvent.normal("TrainingRequested", message)])
            if created:
                logger.info("created TrainingJob %s (%s)", tj_name, action.reason)
        else:
            later.append(action)
    old = ModelStatus.model_validate(body.get("status") or {})
    if write_status(kube, MODELS, body, old, decision.status):
        body["status"] = decision.status.to_wire()
    for action in later:
        if isinstance(action, PostEvent):
            post_events(body, [action])
        elif kube.delete(TRAINING_JOBS, namespace, action.name):
            limit = model.spec.retraining.history_limit if model else 0
            logger.info("deleted TrainingJob %s (history limit %d)", action.name, limit)
