"""Kopf handlers of the Deployment kind: events reconcile at once; time runs on one clock.

A Deployment is reconciled when it or one of its children (stage Deployments, acceptance and
evaluation Jobs) changes, and when its Model changes (found through `DeploymentFollowers`, kept
from what the Deployments' watch delivered, not a list). What time alone brings (a requeue a
decision asked for, a drift reading, an autoscaler sample) is planned per Deployment by
`DeploymentClock` and run by one task for all of them (`clock_pass`); a suspended Deployment has
no plan, so 10,000 idle objects cost no task, no finalizer, no kept body and no API call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from functools import partial
from typing import Any

import kopf

from modelship.api.v1alpha1 import GROUP, VERSION, DeploymentStatus
from modelship.api.v1alpha1.autoscaling import Autoscaling
from modelship.operator.deployment.autoscale import Windows
from modelship.operator.deployment.autoscale_sampler import read_production
from modelship.operator.deployment.clock import DeploymentClock
from modelship.operator.deployment.controller import owner_deployment, reconcile_deployment
from modelship.operator.deployment.decide import SETTLED_SECONDS
from modelship.operator.deployment.drift import record_drift
from modelship.operator.deployment.followers import DeploymentFollowers
from modelship.operator.kube.changes import Changes, fingerprint, model_part
from modelship.operator.kube.handoff import Handoff
from modelship.operator.kube.naming import LABEL_COMPONENT, MANAGED_BY
from modelship.operator.kube.requeue import RETRY_AFTER_ERROR_SECONDS, Requeues, spread
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS
from modelship.operator.kube.resume import suspended_at_rest

MANAGED = {MANAGED_BY: "modelship"}
log = logging.getLogger("modelship.deployment")
# Autoscaling figures in status are refreshed this often even when the decision stays the same.
AUTOSCALE_STATUS_SECONDS = 30.0


def _requeues(memo: kopf.Memo) -> Requeues:
    """The Deployments' requeue times, made once at startup (startup.configure).

    Kopf gives every object its own memo, a shallow copy of the startup memo: only what startup
    put there is shared. A reconcile triggered by a child's or a Model's event runs with that
    object's memo, and must reach the Deployments' clock all the same.
    """
    requeues: Requeues = memo.deployment_requeues
    return requeues


def _clock(memo: kopf.Memo) -> DeploymentClock:
    """The Deployments' clock, made once at startup (startup.configure) over `_requeues`."""
    clock: DeploymentClock = memo.deployment_clock
    return clock


def _followers(memo: kopf.Memo) -> DeploymentFollowers:
    """Which Deployments follow each Model (made once at startup, shared)."""
    followers: DeploymentFollowers = memo.deployment_followers
    return followers


def _model_changes(memo: kopf.Memo) -> Changes:
    """What each Model's Deployments were last told of (made once at startup, shared)."""
    changes: Changes = memo.model_changes
    return changes


def _deployment(
    memo: kopf.Memo, namespace: str, name: str, unless: Callable[[], bool] | None = None
) -> None:
    """Reconcile the Deployment; `unless`, asked under its lock, says a reconcile that finished
    while this one waited for the lock has already done the work."""
    with memo.locks[("deployment", namespace, name)]:
        if unless is not None and unless():
            return
        _reconcile(memo, (namespace, name))


def _reconcile(memo: kopf.Memo, key: tuple[str, str]) -> None:
    namespace, name = key
    requeues = _requeues(memo)
    with memo.metrics.reconcile("Deployment"):
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
        delay = reconcile_deployment(
            memo.kube, memo.settings, body, memo.metrics, traffic, windows, _followers(memo)
        )
        if delay == SETTLED_SECONDS:  # settled: only the safety net's look, spread by Deployment
            delay = spread(key, memo.settings.settled_resync_seconds)
        requeues.request(key, delay)


def _drift(memo: kopf.Memo, namespace: str, name: str, logger: logging.Logger) -> None:
    """Read production drift if it is due by the Deployment as its last event brought it (the
    write names that resourceVersion: record_drift reads again if it moved since)."""
    key, clock = (namespace, name), _clock(memo)
    with memo.locks[("deployment", namespace, name)], memo.metrics.reconcile("Drift"):
        body = clock.kept(key) or memo.kube.get(MODEL_DEPLOYMENTS, namespace, name)
        if body is not None and not body["metadata"].get("deletionTimestamp"):
            recorded = record_drift(memo.kube, memo.drift_reader, memo.settings, body, logger)
            if recorded is not None:
                if recorded.written:
                    clock.wrote(key, recorded.body)
                else:
                    clock.unchanged(key)
                memo.metrics.drift_read(namespace, name, recorded.drift)


def _autoscale(memo: kopf.Memo, spec: Autoscaling, namespace: str, name: str) -> None:
    """Read production's in-flight gauges once; reconcile when the recommendation moved."""
    windows: Windows | None = memo.get("autoscale_windows")
    if windows is None:
        return
    read_production(memo.kube, memo.traffic_reader, windows, _meta(namespace, name), spec)
    if windows.worth_reconciling((namespace, name), AUTOSCALE_STATUS_SECONDS):
        _deployment(memo, namespace, name)


def _meta(namespace: str, name: str) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name}}


@kopf.on.resume(GROUP, VERSION, "deployments")
@kopf.on.create(GROUP, VERSION, "deployments")
@kopf.on.update(GROUP, VERSION, "deployments")
def deployment_changed(
    body: kopf.Body, meta: kopf.Meta, reason: str, memo: kopf.Memo, **_: Any
) -> None:
    namespace, name = str(meta["namespace"]), str(meta["name"])
    if reason != kopf.Reason.RESUME:
        _deployment(memo, namespace, name)
    elif suspended_at_rest(body):
        status = DeploymentStatus.model_validate(dict(body.get("status") or {}))
        memo.metrics.deployment_written(namespace, name, status, status)  # its gauges, as before
    else:
        # A reconcile since this process started (its Model's first event came first) read
        # everything after the start: the resume would read it all again for nothing.
        followers = _followers(memo)
        _deployment(memo, namespace, name, partial(followers.reconciled, namespace, name))


def requeue_if_due(memo: kopf.Memo, namespace: str, name: str) -> bool:
    """Reconcile the Deployment if the time its last reconcile asked for has come."""
    if not _requeues(memo).due((namespace, name)):
        return False
    _deployment(memo, namespace, name)
    return True


async def clock_pass(memo: kopf.Memo, key: Hashable) -> None:
    """What the clock found due for one Deployment: the requeue, then drift, then a sample.

    A pass that fails (an API error) is tried again after RETRY_AFTER_ERROR_SECONDS.
    """
    namespace, name = str(key[0]), str(key[1])  # type: ignore[index]
    work = _clock(memo).take(key)
    try:
        if work.requeue:
            await asyncio.to_thread(requeue_if_due, memo, namespace, name)
        if work.drift:
            await asyncio.to_thread(_drift, memo, namespace, name, log)
        if work.sample is not None:
            await asyncio.to_thread(_autoscale, memo, work.sample, namespace, name)
    except Exception:
        log.exception("reconcile of Deployment %s/%s failed", namespace, name)
        _requeues(memo).request(key, RETRY_AFTER_ERROR_SECONDS)


@kopf.on.event(GROUP, VERSION, "deployments")
async def deployment_seen(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """Plan the Deployment's time-driven work from what this event brings.

    The plan follows the status the watch delivers, not the reconcile's write: a promotion
    starts the drift reads when its event arrives, and a drift reading's new `checkedAt` moves
    the next one.
    """
    if (clocks := memo.get("clocks")) is not None:
        clocks.ensure_running()  # here, in a handler's context: see startup.Clocks
    meta = body.get("metadata", {})
    key = (str(meta.get("namespace")), str(meta.get("name")))
    deleted = kwargs.get("type") == "DELETED"
    _followers(memo).seen(body, deleted)
    if _clock(memo).seen(key, body, deleted) and (windows := memo.get("autoscale_windows")):
        windows.forget(key)  # no longer scaled by us: old readings must not count if it is again


@kopf.on.event(GROUP, VERSION, "models")
async def model_event(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """A Model's versions changed: Deployments following it may have a new version to test.

    Only an event that changed what they read (`Changes`) reconciles them: Kopf's own patches
    and unchanged status writes of the Model cost its Deployments nothing. The comparison runs
    here on the loop and the reconciles are handed to threads (`Handoff`): the Model's own
    events never wait behind them (see handoff.py for what that wait cost).
    """
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
    handoff: Handoff = memo.handoff
    followers, seen = _followers(memo), fingerprint(part)
    for name in followers.of(namespace, model):
        if deleted or followers.needs(namespace, name, seen):
            handoff.submit(
                ("deployment", namespace, name), reconcile_follower, memo, namespace, name, model
            )
    if deleted:
        changes.forget(key)
    else:
        changes.told(key, part)


def reconcile_follower(memo: kopf.Memo, namespace: str, name: str, model: str = "") -> None:
    """Reconcile a Deployment whose Model moved; should that fail, the clock tries again.

    Not when a reconcile that held the lock meanwhile (its resume, at a restart) already read
    the Model as its latest event has it.
    """
    changes, followers = _model_changes(memo), _followers(memo)

    def read_already() -> bool:
        latest = changes.latest((namespace, model))
        return latest is not None and not followers.needs(namespace, name, latest)

    try:
        _deployment(memo, namespace, name, read_already if model else None)
    except Exception:
        log.exception("reconcile of Deployment %s/%s failed", namespace, name)
        _requeues(memo).request((namespace, name), RETRY_AFTER_ERROR_SECONDS)


def _deployment_job(value: str | None, **_: Any) -> bool:
    """The Jobs a Deployment runs: acceptance (test stage) and evaluation (live metric)."""
    return value in ("acceptance", "evaluation")


@kopf.on.event("apps", "v1", "deployments", labels={**MANAGED, LABEL_COMPONENT: "serving"})
@kopf.on.event("batch", "v1", "jobs", labels={**MANAGED, LABEL_COMPONENT: _deployment_job})
def stage_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    meta = body.get("metadata", {})
    name = owner_deployment(meta.get("labels", {}))
    if name and meta.get("namespace"):
        if body.get("kind") == "Deployment":  # a stage's pods may have changed
            memo.drift_reader.forget(meta["namespace"], name)
        _deployment(memo, meta["namespace"], name)
