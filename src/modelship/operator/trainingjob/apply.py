"""Apply a TrainingJob's decision in one place: create the attempt's Job (announced once
created), write status once, then post the Events."""

from __future__ import annotations

from typing import Any

import kopf

from modelship.api.v1alpha1 import TrainingJobStatus
from modelship.operator.kube.actions import CreateJob, PostEvent
from modelship.operator.kube.client import Kube
from modelship.operator.kube.perform import create_job, post_events, write_status
from modelship.operator.kube.resources import TRAINING_JOBS
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.trainingjob.decide import Decision

Obj = dict[str, Any]


def apply(
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
