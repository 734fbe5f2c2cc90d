"""Kopf handlers of the Deployment kind: events reconcile at once; time wakes one daemon.

A Deployment is reconciled when it or one of its children (stage Deployments, acceptance and
evaluation Jobs) changes, and when its Model changes (found through an index of what the watch
already delivered, not a list). Time matters three times: a decision may ask to be looked at
again (a rollout in flight, whose pods' readiness is not always an event we see; the next live
evaluation), production drift is read every `drift_interval_seconds`, and autoscaled
production's in-flight requests every `autoscale_sample_seconds`. One async daemon per active
Deployment sleeps until the soonest of these, woken early when a reconcile asks for an earlier
time; a suspended Deployment has no daemon, so 1,000 idle objects cost no timer, no thread and
no API call.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kopf

from modelship.api.v1alpha1 import GROUP, VERSION
from modelship.operator.deployment.autoscale import Windows
from modelship.operator.deployment.autoscale_sampler import operator_scaled, read_production
from modelship.operator.deployment.controller import owner_deployment, reconcile_deployment
from modelship.operator.deployment.drift import drift_seconds_until, record_drift, typed_status
from modelship.operator.kube.changes import Changes, model_part
from modelship.operator.kube.naming import LABEL_COMPONENT, MANAGED_BY
from modelship.operator.kube.requeue import RETRY_AFTER_ERROR_SECONDS, Requeues
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS

MANAGED = {MANAGED_BY: "modelship"}
# With nothing due, a daemon still looks once an hour: a safety net against a lost wake-up.
IDLE_SECONDS = 3600.0
# After a drift pass, the status it wrote reaches the daemon's body with the watch event (which
# wakes the daemon); until then the old `checkedAt` says "due", which must not mean "read again".
DRIFT_SETTLE_SECONDS = 1.0
# Autoscaling figures in status are refreshed this often even when the decision stays the same.
AUTOSCALE_STATUS_SECONDS = 30.0
ModelIndex = kopf.Index[tuple[str, str], str]


def _requeues(memo: kopf.Memo) -> Requeues:
    """The Deployments' requeue times, made once at startup (startup.configure).

    Kopf gives every object its own memo, a shallow copy of the startup memo: only what startup
    put there is shared. A reconcile triggered by a child's or a Model's event runs with that
    object's memo, and must reach the Deployment's daemon all the same.
    """
    requeues: Requeues = memo.deployment_requeues
    return requeues


def _model_changes(memo: kopf.Memo) -> Changes:
    """What each Model's Deployments were last told of (made once at startup, shared)."""
    changes: Changes = memo.model_changes
    return changes


def _deployment(memo: kopf.Memo, namespace: str, name: str) -> None:
    key = (namespace, name)
    requeues = _requeues(memo)
    with memo.locks[("deployment", namespace, name)], memo.metrics.reconcile("Deployment"):
        body = memo.kube.get(MODEL_DEPLOYMENTS, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            requeues.forget(key)
            memo.metrics.forget_deployment(namespace, name)
            if (windows := memo.get("autoscale_windows")) is not None:
                windows.forget(key)
            return
        # Should the reconcile raise, the daemon tries again later rather than at once.
        requeues.request(key, RETRY_AFTER_ERROR_SECONDS)
        traffic, windows = memo.get("traffic_reader"), memo.get("autoscale_windows")
        requeues.request(
            key,
            reconcile_deployment(memo.kube, memo.settings, body, memo.metrics, traffic, windows),
        )


def _drift(memo: kopf.Memo, namespace: str, name: str, logger: kopf.Logger) -> None:
    """Read production drift if it is due by the Deployment as the API server has it now."""
    with memo.locks[("deployment", namespace, name)], memo.metrics.reconcile("Drift"):
        body = memo.kube.get(MODEL_DEPLOYMENTS, namespace, name)
        if body is not None and not body["metadata"].get("deletionTimestamp"):
            drift = record_drift(memo.kube, memo.drift_reader, memo.settings, body, logger)
            if drift is not None:
                memo.metrics.drift_read(namespace, name, drift)


def _autoscale(memo: kopf.Memo, body: kopf.Body, namespace: str, name: str) -> None:
    """Read production's in-flight gauges once; reconcile when the recommendation moved."""
    spec = operator_scaled(dict(body))
    windows: Windows | None = memo.get("autoscale_windows")
    if windows is None:
        return
    if spec is None:  # no longer scaled by us: old readings must not count if it is again
        windows.forget((namespace, name))
        return
    read_production(memo.kube, memo.traffic_reader, windows, dict(body), spec)
    if windows.worth_reconciling((namespace, name), AUTOSCALE_STATUS_SECONDS):
        _deployment(memo, namespace, name)


@kopf.index(GROUP, VERSION, "deployments")
def deployments_by_model(
    namespace: str | None, name: str | None, spec: kopf.Spec, **_: Any
) -> dict[tuple[str, str], str]:
    """(namespace, Model) -> the Deployments deploying it, kept current by the watch.

    A suspended Deployment reads nothing of its Model (nor any child), so a Model's events need
    not reconcile it; it leaves the index while suspended and its resume reconciles it anyway.
    """
    model = (spec.get("modelRef") or {}).get("name")
    if spec.get("suspend") or not (model and namespace and name):
        return {}
    return {(str(namespace), str(model)): str(name)}


@kopf.on.resume(GROUP, VERSION, "deployments")
@kopf.on.create(GROUP, VERSION, "deployments")
@kopf.on.update(GROUP, VERSION, "deployments")
def deployment_changed(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    _deployment(memo, str(meta["namespace"]), str(meta["name"]))


def requeue_if_due(memo: kopf.Memo, namespace: str, name: str) -> bool:
    """Reconcile the Deployment if the time its last reconcile asked for has come."""
    if not _requeues(memo).due((namespace, name)):
        return False
    _deployment(memo, namespace, name)
    return True


def next_wake(requeue: float | None, drift: float | None, sample: float | None = None) -> float:
    """Seconds to sleep: until the soonest of the requeue, the drift read and the autoscaler's
    next reading, or an idle hour."""
    pending = [d for d in (requeue, drift, sample) if d is not None]
    return min(pending) if pending else IDLE_SECONDS


async def _sleep(seconds: float, woken: asyncio.Event, stopped: kopf.DaemonStopped) -> None:
    """Until `seconds` pass, a reconcile asks for an earlier time, or Kopf stops the daemon."""
    waits = {asyncio.ensure_future(woken.wait()), asyncio.ensure_future(stopped.wait())}
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
    woken.clear()


@kopf.daemon(
    GROUP,
    VERSION,
    "deployments",
    cancellation_timeout=10,
    when=lambda spec, **_: not spec.get("suspend"),
)
async def deployment_clock(
    meta: kopf.Meta,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    stopped: kopf.DaemonStopped,
    **_: Any,
) -> None:
    # Ends by itself when Kopf says stop (deletion, suspension, shutdown): never cancelled
    # in the middle of a reconcile.
    namespace, name = str(meta["namespace"]), str(meta["name"])
    key, requeues = (namespace, name), _requeues(memo)
    woken = requeues.waker(key)
    interval = memo.settings.drift_interval_seconds
    every, sampled = memo.settings.autoscale_sample_seconds, time.monotonic()
    drift_pass = -DRIFT_SETTLE_SECONDS
    while not stopped:
        drift = drift_seconds_until(typed_status(body.get("status")), interval)
        settling = DRIFT_SETTLE_SECONDS - (time.monotonic() - drift_pass)
        if drift is not None and settling > 0:
            drift = max(drift, settling)
        sample = (
            max(0.0, sampled + every - time.monotonic()) if operator_scaled(dict(body)) else None
        )
        await _sleep(next_wake(requeues.seconds_until(key), drift, sample), woken, stopped)
        if stopped:
            break
        try:
            await asyncio.to_thread(requeue_if_due, memo, namespace, name)
            drift = drift_seconds_until(typed_status(body.get("status")), interval)
            if drift == 0.0 and time.monotonic() - drift_pass >= DRIFT_SETTLE_SECONDS:
                drift_pass = time.monotonic()
                await asyncio.to_thread(_drift, memo, namespace, name, logger)
            if time.monotonic() >= sampled + every:
                sampled = time.monotonic()
                await asyncio.to_thread(_autoscale, memo, body, namespace, name)
        except Exception:  # a failed pass must not end the daemon; it retries when due
            logger.exception("reconcile of Deployment %s failed", name)
            requeues.request(key, RETRY_AFTER_ERROR_SECONDS)


@kopf.on.event(GROUP, VERSION, "deployments")
async def deployment_seen(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    """Kopf has just put this event's body into the daemon's: let the daemon plan again.

    The daemon plans its sleep from the status in its body, and a reconcile wakes it as soon as
    its write returns, before the watch brings that write's event. Woken then, a daemon saw the
    status from before a promotion and slept an idle hour instead of reading drift.
    """
    _requeues(memo).wake((str(meta["namespace"]), str(meta["name"])))


@kopf.on.event(GROUP, VERSION, "models")
def model_event(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """A Model's versions changed: Deployments following it may have a new version to test.

    Only an event that changed what they read (`Changes`) reconciles them: Kopf's own patches
    and unchanged status writes of the Model cost its Deployments nothing.
    """
    deployments_by_model: ModelIndex = kwargs["deployments_by_model"]  # Kopf passes indexes by name
    meta = body.get("metadata", {})
    namespace, model = meta.get("namespace"), meta.get("name")
    if not (namespace and model):
        return
    key, changes = (namespace, model), _model_changes(memo)
    # A relisting (after the watch lost its place) compares like any event: only what moved
    # while nobody watched is news.
    deleted = kwargs.get("type") == "DELETED"
    part = model_part(dict(body))
    if not deleted and not changes.moved(key, part):
        return
    for name in deployments_by_model.get(key, []):
        _deployment(memo, namespace, name)
    if deleted:
        changes.forget(key)
    else:
        changes.told(key, part)


def _deployment_job(value: str | None, **_: Any) -> bool:
    """The Jobs a Deployment runs: acceptance (test stage) and evaluation (live metric)."""
    return value in ("acceptance", "evaluation")


@kopf.on.event("apps", "v1", "deployments", labels={**MANAGED, LABEL_COMPONENT: "serving"})
@kopf.on.event("batch", "v1", "jobs", labels={**MANAGED, LABEL_COMPONENT: _deployment_job})
def stage_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    meta = body.get("metadata", {})
    name = owner_deployment(meta.get("labels", {}))
    if name and meta.get("namespace"):
        _deployment(memo, meta["namespace"], name)
