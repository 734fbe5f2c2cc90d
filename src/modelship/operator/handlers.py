"""Kopf handlers: thin entry points that find the object and call its controller.

Handlers for a kind (create, update, resume, timer) and for its children's events all end in the
same idempotent reconcile, guarded by a per-object lock so they never interleave.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from typing import Any

import kopf

from modelship.api.v1alpha1 import (
    GROUP,
    VERSION,
    DeploymentStatus,
    ModelStatus,
    TrainingJobStatus,
)
from modelship.operator.deployment.drift import typed_status
from modelship.operator.kube.changes import Changes, measured_part, training_part
from modelship.operator.kube.naming import (
    LABEL_COMPONENT,
    LABEL_MODEL,
    LABEL_TRAINING_JOB,
    MANAGED_BY,
)
from modelship.operator.kube.resources import MODELS, TRAINING_JOBS
from modelship.operator.kube.resume import suspended_at_rest
from modelship.operator.model.builders import COMPONENT as PROBE_COMPONENT
from modelship.operator.model.clock import ModelClock
from modelship.operator.model.controller import reconcile_model
from modelship.operator.model.dataset_jobs import finished
from modelship.operator.trainingjob.controller import reconcile_training_job
from modelship.operator.trainingjob.decide import TERMINAL

MANAGED = {MANAGED_BY: "modelship"}
log = logging.getLogger("modelship.model")


def reads_deployments(body: dict[str, Any]) -> bool:
    """Whether the Model's retraining looks at what its Deployments measure (drift, decay)."""
    retraining = (body.get("spec") or {}).get("retraining") or {}
    return bool(retraining.get("drift") or retraining.get("performance"))


def _model(memo: kopf.Memo, namespace: str, name: str, logger: kopf.Logger) -> None:
    readers: dict[tuple[str, str], bool] = memo.models_reading_deployments
    with memo.locks[("model", namespace, name)], memo.metrics.reconcile("Model"):
        body = memo.kube.get(MODELS, namespace, name)
        if body is None:
            readers.pop((namespace, name), None)
            memo.metrics.forget_model(namespace, name)
            return
        readers[(namespace, name)] = reads_deployments(body)
        if not body["metadata"].get("deletionTimestamp"):
            reconcile_model(
                memo.kube, memo.settings, body, logger, memo.dataset_probe, memo.metrics
            )


def _training_job(memo: kopf.Memo, namespace: str, name: str, logger: kopf.Logger) -> float | None:
    with memo.locks[("trainingjob", namespace, name)], memo.metrics.reconcile("TrainingJob"):
        body = memo.kube.get(TRAINING_JOBS, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        return reconcile_training_job(memo.kube, memo.settings, body, logger, memo.metrics)


@kopf.on.resume(GROUP, VERSION, "models")
@kopf.on.create(GROUP, VERSION, "models")
@kopf.on.update(GROUP, VERSION, "models")
def model_changed(
    body: kopf.Body,
    meta: kopf.Meta,
    reason: str,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    namespace, name = str(meta["namespace"]), str(meta["name"])
    if reason == kopf.Reason.RESUME and suspended_at_rest(body):
        # Nothing to decide (resume.py); what a reconcile would have set in memory is set here.
        memo.models_reading_deployments[(namespace, name)] = reads_deployments(dict(body))
        status = ModelStatus.model_validate(dict(body.get("status") or {}))
        memo.metrics.model_written(namespace, name, status, status)
        return
    _model(memo, namespace, name, logger)


async def model_clock_pass(memo: kopf.Memo, key: Hashable) -> None:
    """A scheduled run or a dataset check may be due (the Models' clock found it so)."""
    if memo.model_clock.take(key):
        namespace, name = str(key[0]), str(key[1])  # type: ignore[index]
        await asyncio.to_thread(_model, memo, namespace, name, log)


@kopf.on.event(GROUP, VERSION, "models")
async def model_seen(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """Plan the Model's next look on the clock, if time alone can make it train (a schedule, a
    dataset check, a held-back training's cooldown)."""
    if (clocks := memo.get("clocks")) is not None:
        clocks.ensure_running()  # here, in a handler's context: see startup.Clocks
    meta = body.get("metadata", {})
    key = (str(meta.get("namespace")), str(meta.get("name")))
    clock: ModelClock = memo.model_clock
    clock.seen(key, body, kwargs.get("type") == "DELETED")


@kopf.on.event(GROUP, VERSION, "trainingjobs")
def training_job_event(
    body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any
) -> None:
    """A TrainingJob appeared, moved or vanished: its Model's summary may change (only when
    what the Model reads of it moved: `training_part`)."""
    model = body.get("spec", {}).get("modelRef", {}).get("name")
    meta = body.get("metadata", {})
    namespace = meta.get("namespace")
    if not (model and namespace):
        return
    key, changes = (namespace, meta.get("name")), memo.training_changes
    deleted, part = kwargs.get("type") == "DELETED", training_part(dict(body))
    if not deleted and not changes.moved(key, part):
        return
    _model(memo, namespace, model, logger)
    if deleted:
        changes.forget(key)
    else:
        changes.told(key, part)


@kopf.on.event("batch", "v1", "jobs", labels={**MANAGED, LABEL_COMPONENT: PROBE_COMPONENT})
def dataset_probe_event(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """A file:// dataset probe finished: its Model reads the digest now, not at its next tick."""
    model = body.get("metadata", {}).get("labels", {}).get(LABEL_MODEL)
    namespace = body.get("metadata", {}).get("namespace")
    if model and namespace and finished(dict(body)):
        _model(memo, namespace, model, logger)


def _training_active(status: kopf.Status, **_: Any) -> bool:
    return TrainingJobStatus.model_validate(dict(status)).phase not in TERMINAL


# Why a daemon: each reconcile names when it wants to run again (the end of a back-off, the next
# look at a running Job: `resync_seconds`), and an async daemon sleeps exactly that long at no
# cost while it waits. `kopf.TemporaryError(delay=...)` would log each wait as an error (posted as
# a Warning Event at our posting level) and write Kopf's progress annotation every time; a timer's
# interval is fixed when this module is imported. The daemon exists only while the run is active
# (`when`), and events of the run's Jobs still reconcile at once in between. A pass that fails (an
# API error) is retried by Kopf after `backoff` seconds.
@kopf.daemon(GROUP, VERSION, "trainingjobs", when=_training_active, backoff=10)
async def training_job_driver(
    meta: kopf.Meta, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Reconcile the TrainingJob until it is over, waking when each decision asks to."""
    namespace, name = str(meta["namespace"]), str(meta["name"])
    while True:
        delay = await asyncio.to_thread(_training_job, memo, namespace, name, logger)
        if delay is None:
            return
        await asyncio.sleep(delay)


@kopf.on.event("batch", "v1", "jobs", labels={**MANAGED, LABEL_COMPONENT: "trainer"})
def training_pod_job_event(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    labels = body.get("metadata", {}).get("labels", {})
    name, namespace = labels.get(LABEL_TRAINING_JOB), body.get("metadata", {}).get("namespace")
    if name and namespace and labels.get(LABEL_MODEL):
        _training_job(memo, namespace, name, logger)


def _measured(status: DeploymentStatus) -> bool:
    return status.drift is not None or status.performance is not None


@kopf.on.event(
    GROUP,
    VERSION,
    "deployments",
    when=lambda status, **_: _measured(typed_status(status)),
)
def drift_recorded(
    body: kopf.Body, meta: kopf.Meta, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any
) -> None:
    """Production drift or live performance was recorded: the Model decides whether it asks for
    a retraining. (The id keeps its first name: Kopf keys its progress by it.)

    Only when the recording moved (not on Kopf's patches or other status writes), and not for a
    Model whose last reconcile showed no retraining that reads it: each drift reading of every
    serving Deployment would otherwise cost its Model three reads.
    """
    part, namespace = measured_part(dict(body)), meta.get("namespace")
    model, key = part[0], ("deployment", namespace, meta.get("name"))
    changes: Changes = memo.measured_changes
    deleted = kwargs.get("type") == "DELETED"
    if not (model and namespace) or not (deleted or changes.moved(key, part)):
        return
    readers: dict[tuple[str, str], bool] = memo.models_reading_deployments
    if readers.get((str(namespace), str(model)), True):
        _model(memo, str(namespace), str(model), logger)
    if deleted:
        changes.forget(key)
    else:
        changes.told(key, part)
