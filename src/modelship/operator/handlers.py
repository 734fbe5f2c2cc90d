"""Kopf handlers: thin entry points that find the object and call its controller.

Handlers for a kind (create, update, resume, timer) and for its children's events all end in the
same idempotent reconcile, guarded by a per-object lock so they never interleave.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from modelship.api.v1alpha1 import GROUP, VERSION, TrainingJobStatus
from modelship.operator.deployment import (
    deployments_of_model,
    owner_deployment,
    reconcile_deployment,
)
from modelship.operator.drift import drift_due, in_production, record_drift, typed_status
from modelship.operator.kube import MODEL_DEPLOYMENTS, MODELS, TRAINING_JOBS
from modelship.operator.model_controller import reconcile_model
from modelship.operator.naming import LABEL_COMPONENT, LABEL_MODEL, LABEL_TRAINING_JOB, MANAGED_BY
from modelship.operator.requeue import RETRY_AFTER_ERROR_SECONDS, Requeues
from modelship.operator.trainingjob_controller import TERMINAL, reconcile_training_job

MANAGED = {MANAGED_BY: "modelship"}


def _model(memo: kopf.Memo, namespace: str, name: str, logger: kopf.Logger) -> None:
    with memo.locks[("model", namespace, name)]:
        body = memo.kube.get(MODELS, namespace, name)
        if body is not None and not body["metadata"].get("deletionTimestamp"):
            reconcile_model(memo.kube, memo.settings, body, logger, memo.dataset_probe)


def _training_job(memo: kopf.Memo, namespace: str, name: str, logger: kopf.Logger) -> float | None:
    with memo.locks[("trainingjob", namespace, name)]:
        body = memo.kube.get(TRAINING_JOBS, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        return reconcile_training_job(memo.kube, memo.settings, body, logger)


@kopf.on.resume(GROUP, VERSION, "models")
@kopf.on.create(GROUP, VERSION, "models")
@kopf.on.update(GROUP, VERSION, "models")
def model_changed(meta: kopf.Meta, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    _model(memo, str(meta["namespace"]), str(meta["name"]), logger)


@kopf.timer(GROUP, VERSION, "models", interval=60, initial_delay=30)
def model_resync(meta: kopf.Meta, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """A slow safety net; events drive the normal path."""
    _model(memo, str(meta["namespace"]), str(meta["name"]), logger)


@kopf.on.event(GROUP, VERSION, "trainingjobs")
def training_job_event(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """A TrainingJob appeared, moved or vanished: its Model's summary may change."""
    model = body.get("spec", {}).get("modelRef", {}).get("name")
    namespace = body.get("metadata", {}).get("namespace")
    if model and namespace:
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


def _requeues(memo: kopf.Memo) -> Requeues:
    """The Deployments' requeue times (made on first use: startup knows nothing of them)."""
    requeues: Requeues = memo.setdefault("deployment_requeues", Requeues())
    return requeues


def _deployment(memo: kopf.Memo, namespace: str, name: str) -> None:
    key = (namespace, name)
    requeues = _requeues(memo)
    with memo.locks[("deployment", namespace, name)]:
        body = memo.kube.get(MODEL_DEPLOYMENTS, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            requeues.forget(key)
            return
        # Should the reconcile raise, the tick tries again later rather than on every tick.
        requeues.request(key, RETRY_AFTER_ERROR_SECONDS)
        requeues.request(key, reconcile_deployment(memo.kube, memo.settings, body))


@kopf.on.resume(GROUP, VERSION, "deployments")
@kopf.on.create(GROUP, VERSION, "deployments")
@kopf.on.update(GROUP, VERSION, "deployments")
def deployment_changed(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    _deployment(memo, str(meta["namespace"]), str(meta["name"]))


# The decision names when to look again (`requeue_after`: a few seconds while a rollout or
# acceptance is in flight, since pod readiness and termination messages do not always arrive as an
# event; half a minute once settled). Kopf cannot vary a timer's interval, so one small async
# daemon per Deployment checks every second whether that time has come and only then reconciles.
# A daemon rather than a one-second timer: Kopf logs every timer run, and a check that is not due
# costs here neither a thread nor a log line nor an API call.
REQUEUE_CHECK_SECONDS = 1.0


def requeue_if_due(memo: kopf.Memo, namespace: str, name: str) -> bool:
    """Reconcile the Deployment if the time its last reconcile asked for has come."""
    if not _requeues(memo).due((namespace, name)):
        return False
    _deployment(memo, namespace, name)
    return True


@kopf.daemon(GROUP, VERSION, "deployments", cancellation_timeout=10)
async def deployment_requeue(
    meta: kopf.Meta,
    memo: kopf.Memo,
    logger: kopf.Logger,
    stopped: kopf.DaemonStopped,
    **_: Any,
) -> None:
    # Ends by itself when Kopf says stop (deletion, shutdown), so it is never cancelled mid-check.
    namespace, name = str(meta["namespace"]), str(meta["name"])
    while not await stopped.wait(REQUEUE_CHECK_SECONDS):
        if not _requeues(memo).due((namespace, name)):
            continue
        try:
            await asyncio.to_thread(requeue_if_due, memo, namespace, name)
        except Exception:  # a failed reconcile must not end the daemon; it retries when due
            logger.exception("reconcile of Deployment %s failed", name)


# A short fixed tick, because Kopf fixes a timer's interval when the module is imported; whether a
# read is due comes from the configured interval and status.drift.checkedAt, so restarts keep the
# pace and the tick itself costs no API call.
DRIFT_TICK_SECONDS = 2


@kopf.timer(
    GROUP,
    VERSION,
    "deployments",
    interval=DRIFT_TICK_SECONDS,
    initial_delay=DRIFT_TICK_SECONDS,
    when=lambda status, **_: in_production(typed_status(status)),
)
def drift_check(
    meta: kopf.Meta, status: kopf.Status, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Read production drift when it is due and record it in status.drift."""
    if not drift_due(typed_status(status), memo.settings.drift_interval_seconds):
        return
    namespace, name = str(meta["namespace"]), str(meta["name"])
    with memo.locks[("deployment", namespace, name)]:
        body = memo.kube.get(MODEL_DEPLOYMENTS, namespace, name)
        if body is not None and not body["metadata"].get("deletionTimestamp"):
            record_drift(memo.kube, memo.drift_reader, memo.settings, body, logger)


@kopf.on.event(
    GROUP,
    VERSION,
    "deployments",
    when=lambda status, **_: typed_status(status).drift is not None,
)
def drift_recorded(
    spec: kopf.Spec, meta: kopf.Meta, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Production drift was recorded: the Model decides whether it asks for a retraining."""
    model = (spec.get("modelRef") or {}).get("name")
    if model and meta.get("namespace"):
        _model(memo, str(meta["namespace"]), str(model), logger)


@kopf.on.event(GROUP, VERSION, "models")
def model_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A Model's versions changed: Deployments following it may have a new version to test."""
    meta = body.get("metadata", {})
    if meta.get("namespace") and meta.get("name"):
        for name in deployments_of_model(memo.kube, meta["namespace"], meta["name"]):
            _deployment(memo, meta["namespace"], name)


@kopf.on.event("apps", "v1", "deployments", labels={**MANAGED, LABEL_COMPONENT: "serving"})
@kopf.on.event("batch", "v1", "jobs", labels={**MANAGED, LABEL_COMPONENT: "acceptance"})
def stage_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    meta = body.get("metadata", {})
    name = owner_deployment(meta.get("labels", {}))
    if name and meta.get("namespace"):
        _deployment(memo, meta["namespace"], name)
