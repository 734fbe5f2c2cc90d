"""Apply a BatchPrediction's decision in one place: create the step's Job (announced once
created), write status once, post the Events, delete the object when its TTL is over."""

from __future__ import annotations

from typing import Any

import kopf

from modelship.api.v1alpha1 import BatchPredictionStatus
from modelship.operator.batch.decide import Decision, DeleteSelf
from modelship.operator.kube.actions import CreateJob, PostEvent
from modelship.operator.kube.client import Kube
from modelship.operator.kube.perform import create_job, post_events, write_status
from modelship.operator.kube.resources import BATCH_PREDICTIONS
from modelship.operator.metrics import OperatorMetrics

Obj = dict[str, Any]


def apply(
    kube: Kube, body: Obj, decision: Decision, logger: kopf.Logger, metrics: OperatorMetrics | None
) -> bool:
    """Perform the decision; returns False when the object was deleted (its TTL ran out)."""
    meta = body["metadata"]
    posted: list[PostEvent] = []
    for action in decision.actions:
        if isinstance(action, CreateJob):
            create_job(kube, body, action)
        elif isinstance(action, DeleteSelf):
            kube.delete(BATCH_PREDICTIONS, meta["namespace"], meta["name"])
            logger.info("deleted: ttlSecondsAfterFinished passed")
            return False
        else:
            posted.append(action)
    old = BatchPredictionStatus.model_validate(body.get("status") or {})
    if write_status(kube, BATCH_PREDICTIONS, body, old, decision.status):
        body["status"] = decision.status.to_wire()
        if metrics is not None:
            model = str((body.get("spec") or {}).get("model", ""))
            metrics.batch_written(meta["namespace"], model, old, decision.status)
    post_events(body, posted)
    for event in posted:
        logger.info("%s: %s", event.reason, event.message)
    return True
