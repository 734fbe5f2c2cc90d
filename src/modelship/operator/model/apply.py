"""Apply a Model's decision in one place: claim the catalog, create TrainingJobs, write status
once, post Events, prune beyond the history limit: in that order."""

from __future__ import annotations

from typing import Any

import kopf

from modelship.api.v1alpha1 import Model, ModelStatus
from modelship.operator.kube.actions import PostEvent
from modelship.operator.kube.catalog_access import uses_volume
from modelship.operator.kube.client import Kube
from modelship.operator.kube.perform import post_events, write_status
from modelship.operator.kube.resources import MODELS, PVCS, TRAINING_JOBS
from modelship.operator.model.builders import build_catalog_claim, build_training_job
from modelship.operator.model.decide import (
    CreateTrainingJob,
    DeleteTrainingJob,
    EnsureCatalogClaim,
    ModelDecision,
)
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]


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
