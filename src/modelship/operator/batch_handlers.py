"""Kopf handlers of BatchPrediction: thin entry points that find the object and reconcile it.

Like the TrainingJob's: a daemon per active run sleeps exactly as long as each decision asks
(and, for a finished run with ttlSecondsAfterFinished, until it is due for deletion); events of
the run's Jobs reconcile at once in between. A per-object lock keeps them from interleaving.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from modelship.api.v1alpha1 import GROUP, VERSION, BatchPredictionStatus
from modelship.operator.batch.builders import COMPONENT, LABEL_BATCH
from modelship.operator.batch.controller import TERMINAL, reconcile_batch_prediction
from modelship.operator.kube.naming import LABEL_COMPONENT, MANAGED_BY
from modelship.operator.kube.resources import BATCH_PREDICTIONS


def _batch_prediction(
    memo: kopf.Memo, namespace: str, name: str, logger: kopf.Logger
) -> float | None:
    with (
        memo.locks[("batchprediction", namespace, name)],
        memo.metrics.reconcile("BatchPrediction"),
    ):
        body = memo.kube.get(BATCH_PREDICTIONS, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        return reconcile_batch_prediction(memo.kube, memo.settings, body, logger, memo.metrics)


def _wants_driving(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    """Active, or finished with a TTL still to wait out."""
    phase = BatchPredictionStatus.model_validate(dict(status)).phase
    return phase not in TERMINAL or spec.get("ttlSecondsAfterFinished") is not None


@kopf.daemon(GROUP, VERSION, "batchpredictions", when=_wants_driving, backoff=10)
async def batch_prediction_driver(
    meta: kopf.Meta, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Reconcile the run until it is over (and deleted, with a TTL), waking when asked to."""
    namespace, name = str(meta["namespace"]), str(meta["name"])
    while True:
        delay = await asyncio.to_thread(_batch_prediction, memo, namespace, name, logger)
        if delay is None:
            return
        await asyncio.sleep(delay)


@kopf.on.event("batch", "v1", "jobs", labels={MANAGED_BY: "modelship", LABEL_COMPONENT: COMPONENT})
def batch_job_event(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """A plan, scoring or assemble Job moved: its run decides now, not at its next wake-up."""
    labels = body.get("metadata", {}).get("labels", {})
    name, namespace = labels.get(LABEL_BATCH), body.get("metadata", {}).get("namespace")
    if name and namespace:
        _batch_prediction(memo, namespace, name, logger)
