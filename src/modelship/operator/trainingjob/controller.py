"""Drive one TrainingJob from Pending to Succeeded or Failed, one training Job per attempt.

Each reconcile observes (`observe`: the current attempt's Job and pods, and the production
champion when a gate needs it), lets the pure `decide` choose, and applies the decision in one
place (`apply`: create the Job, write the status once, post the Events). A pass that changes
nothing makes no write.
"""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from modelship.api.v1alpha1 import TrainingJob, TrainingJobStatus
from modelship.operator.kube.actions import now
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import TRAINING_JOBS
from modelship.operator.kube.status import first_error
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.apply import apply
from modelship.operator.trainingjob.decide import TERMINAL, Decision, decide, failed
from modelship.operator.trainingjob.observe import observe

Obj = dict[str, Any]
# A pass that only records a new attempt asks to run again at once; more than this in one call
# would mean the status write is not being seen, and the handler's next call will retry.
MAX_PASSES = 3

__all__ = ["TERMINAL", "reconcile_training_job"]


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
        apply(kube, body, decision, logger, metrics)
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
