"""Drive one BatchPrediction to Succeeded or Failed: observe, decide (pure), apply.

A pass that moves to the next step asks to run again at once (the next step's Job is created
by the pass that sees the new phase stored), so a crash between two passes finds the same
Jobs by name; a pass that changes nothing makes no write.
"""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from modelship.api.v1alpha1 import BatchPrediction, BatchPredictionStatus
from modelship.operator.batch.apply import apply
from modelship.operator.batch.decide import TERMINAL, Decision, decide, failed
from modelship.operator.batch.observe import observe
from modelship.operator.kube.actions import now
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import BATCH_PREDICTIONS
from modelship.operator.kube.status import first_error
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
MAX_PASSES = 6

__all__ = ["TERMINAL", "reconcile_batch_prediction"]


def reconcile_batch_prediction(
    kube: Kube,
    settings: OperatorSettings,
    body: Obj,
    logger: kopf.Logger,
    metrics: OperatorMetrics | None = None,
) -> float | None:
    """Bring the run closer to done; seconds until it wants to be looked at again (None:
    only events matter, or the object is gone)."""
    meta = body["metadata"]
    for _ in range(MAX_PASSES):
        decision = _decide(kube, settings, body)
        if not apply(kube, body, decision, logger, metrics):
            return None
        if decision.requeue_after != 0:
            return decision.requeue_after
        fresh = kube.get(BATCH_PREDICTIONS, meta["namespace"], meta["name"])
        if fresh is None or fresh["metadata"].get("deletionTimestamp"):
            return None
        body = fresh
    return settings.resync_seconds


def _decide(kube: Kube, settings: OperatorSettings, body: Obj) -> Decision:
    generation = body["metadata"].get("generation")
    moment = now()
    try:
        bp = BatchPrediction.model_validate(body)
    except ValidationError as exc:
        status = BatchPredictionStatus.model_validate(body.get("status") or {})
        if status.phase in TERMINAL:
            return Decision(status)
        return failed(status, "InvalidSpec", first_error(exc, prefix=""), generation, moment)
    observed = observe(kube, body, bp)
    return decide(bp, body, generation, observed, moment, settings)
