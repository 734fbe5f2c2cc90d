"""A Model's events reconcile its Deployments only when what they read moved (issue 30).

Kopf's own annotation patches and status writes that changed nothing used to reconcile every
Deployment of the Model, two reads each, per event: the largest share of the operator's requests
while thousands of new objects settle.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from typing import Any

import pytest

from modelship.operator import deployment_handlers as handlers
from modelship.operator.kube import events
from modelship.operator.kube.changes import Changes, fingerprint, model_part
from modelship.operator.kube.requeue import RETRY_AFTER_ERROR_SECONDS
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS
from support.deployments import cluster
from support.handler_memo import Clock, handler_memo, model_event

MODEL_KEY = ("modelship.io/models", "ml", "iris")


def deployment_reads(kube: Any) -> list[str]:
    return [
        c.name for c in kube.calls if c.verb == "get" and c.resource == "modelship.io/deployments"
    ]


@pytest.fixture
def setup(monkeypatch: Any) -> tuple[Any, Any]:
    monkeypatch.setattr(events, "normal", lambda *_: None)
    kube = cluster()
    memo = handler_memo(kube, Clock())
    for deployment in kube.list(MODEL_DEPLOYMENTS, "ml"):
        memo.deployment_followers.seen(deployment)
    return kube, memo


def test_an_event_that_changed_nothing_a_deployment_reads_reconciles_nothing(
    setup: tuple[Any, Any],
) -> None:
    kube, memo = setup
    model = kube.get(MODELS, "ml", "iris")
    model_event(memo, model, "ADDED")
    assert deployment_reads(kube) == ["iris"]

    kube.calls.clear()
    annotated = copy.deepcopy(model)
    annotated["metadata"]["annotations"] = {"modelship.io/last-handled-configuration": "{}"}
    annotated["metadata"]["resourceVersion"] = "999"
    model_event(memo, annotated, "MODIFIED")
    model_event(memo, annotated, None)
    assert kube.calls == []  # Kopf's patch and a relisting: no API call at all

    moved = copy.deepcopy(annotated)
    moved["status"]["latestVersion"] = 2
    model_event(memo, moved, "MODIFIED")
    assert deployment_reads(kube) == ["iris"]


def test_a_spec_change_or_deletion_reaches_the_deployments(setup: tuple[Any, Any]) -> None:
    kube, memo = setup
    model = kube.get(MODELS, "ml", "iris")
    model_event(memo, model, "ADDED")
    kube.calls.clear()
    respecified = copy.deepcopy(model)
    respecified["spec"]["monitoring"] = {"capture": {"sampleRate": 0.5}}
    model_event(memo, respecified, "MODIFIED")
    assert deployment_reads(kube) == ["iris"]

    kube.calls.clear()
    deleting = copy.deepcopy(respecified)
    deleting["metadata"]["deletionTimestamp"] = "2026-12-07T12:00:00Z"
    model_event(memo, deleting, "MODIFIED")
    assert deployment_reads(kube) == ["iris"]

    kube.calls.clear()
    model_event(memo, deleting, "DELETED")
    assert deployment_reads(kube) == ["iris"]  # a deletion always tells them
    assert len(memo.model_changes) == 0  # and the Model's fingerprint is forgotten


def test_a_failed_reconcile_is_tried_again_on_the_clock(
    setup: tuple[Any, Any], monkeypatch: Any
) -> None:
    """The event is not delivered again, so the clock retries what failed (as its own passes)."""
    kube, memo = setup
    model = kube.get(MODELS, "ml", "iris")

    def reconcile(memo: Any, namespace: str, name: str) -> None:
        raise RuntimeError("the API server went away")

    monkeypatch.setattr(handlers, "_deployment", reconcile)
    model_event(memo, model, "MODIFIED")
    assert memo.deployment_requeues.seconds_until(("ml", "iris")) == RETRY_AFTER_ERROR_SECONDS

    told: list[str] = []
    monkeypatch.setattr(handlers, "_deployment", lambda _m, _ns, name: told.append(name))
    memo.deployment_clock.requeues.request(("ml", "iris"), 0)
    assert handlers.requeue_if_due(memo, "ml", "iris")
    assert told == ["iris"]


def test_the_models_event_does_not_wait_for_its_deployments_reconciles(
    setup: tuple[Any, Any], monkeypatch: Any
) -> None:
    """Kopf waits for an object's event handlers before its change handlers and gives its own
    patch 5 s to come back: a handler stuck behind reconciles made Kopf run the Model's
    creation twice. The handler returns while the reconcile it started is still running."""
    kube, memo = setup
    started, release = threading.Event(), threading.Event()

    def reconcile(memo: Any, namespace: str, name: str, *_: Any) -> None:
        started.set()
        assert release.wait(10)

    monkeypatch.setattr(handlers, "_deployment", reconcile)
    model = kube.get(MODELS, "ml", "iris")

    async def event() -> None:
        await asyncio.wait_for(handlers.model_event(body=model, memo=memo, type="ADDED"), 1)
        assert await asyncio.to_thread(started.wait, 10)
        assert memo.handoff.pending() == 1  # still running after the handler returned
        release.set()
        assert await memo.handoff.wait(10)

    asyncio.run(event())
    assert memo.handoff.pending() == 0


def test_the_fingerprint_sees_spec_status_and_deletion_only() -> None:
    body: dict[str, Any] = {
        "metadata": {"name": "iris", "resourceVersion": "1", "annotations": {"a": "1"}},
        "spec": {"task": "classification", "suspend": False},
        "status": {"latestVersion": 1, "versions": [{"number": 1}]},
    }
    same = copy.deepcopy(body)
    same["metadata"].update(resourceVersion="2", annotations={"a": "2"}, managedFields=[{}])
    same["spec"] = {"suspend": False, "task": "classification"}  # key order is not a change
    assert fingerprint(model_part(same)) == fingerprint(model_part(body))
    for path, value in (("spec", {"task": "regression"}), ("status", {"latestVersion": 2})):
        other = copy.deepcopy(body)
        other[path] = value
        assert fingerprint(model_part(other)) != fingerprint(model_part(body))
    deleting = copy.deepcopy(body)
    deleting["metadata"]["deletionTimestamp"] = "2026-12-07T12:00:00Z"
    assert fingerprint(model_part(deleting)) != fingerprint(model_part(body))

    changes = Changes()
    assert changes.moved("k", model_part(body))
    changes.told("k", model_part(body))
    assert not changes.moved("k", model_part(same))
    changes.forget("k")
    assert changes.moved("k", model_part(body))


def test_a_deployment_that_read_the_model_its_event_brings_is_not_reconciled_again(
    setup: tuple[Any, Any],
) -> None:
    """After a restart every Model's first event is news (nothing was told yet), but most of its
    Deployments were just resumed, each reading the Model as that event has it."""
    kube, memo = setup
    twin = copy.deepcopy(kube.get(MODEL_DEPLOYMENTS, "ml", "iris"))
    twin["metadata"] = {**twin["metadata"], "name": "iris-twin", "uid": "uid-twin"}
    twin.pop("status", None)
    kube.put(MODEL_DEPLOYMENTS, twin)
    memo.deployment_followers.seen(twin)
    handlers.deployment_changed(
        body={}, meta={"namespace": "ml", "name": "iris"}, reason="resume", memo=memo
    )
    model = kube.get(MODELS, "ml", "iris")
    kube.calls.clear()
    model_event(memo, model, None)  # the Model's first event since the start
    assert deployment_reads(kube) == ["iris-twin"]  # only the one that has not read it yet

    kube.calls.clear()
    moved = copy.deepcopy(model)
    moved["status"]["latestVersion"] = 2
    model_event(memo, moved, "MODIFIED")
    assert deployment_reads(kube) == ["iris", "iris-twin"]  # news for both


def test_a_restart_reconciles_each_deployment_once_whichever_of_its_two_looks_comes_first(
    setup: tuple[Any, Any],
) -> None:
    """At a restart a Deployment's resume and its Model's first event both ask for a reconcile,
    often within milliseconds: whichever holds the lock second finds the work done."""
    kube, memo = setup
    model = kube.get(MODELS, "ml", "iris")
    meta = {"namespace": "ml", "name": "iris"}
    # The Model's event first: the follower's reconcile reads everything; the resume does not.
    model_event(memo, model, None)
    assert deployment_reads(kube) == ["iris"]
    kube.calls.clear()
    handlers.deployment_changed(body={}, meta=meta, reason="resume", memo=memo)
    assert kube.calls == []

    # The resume first, the follower's run queued behind it (its check runs under the lock).
    memo2 = handler_memo(kube, Clock())
    memo2.deployment_followers.seen(kube.get(MODEL_DEPLOYMENTS, "ml", "iris"))
    handlers.deployment_changed(body={}, meta=meta, reason="resume", memo=memo2)
    memo2.model_changes.told(("ml", "iris"), model_part(model))  # its event, as handed off
    kube.calls.clear()
    handlers.reconcile_follower(memo2, "ml", "iris", "iris")
    assert kube.calls == []
    # Had the Model moved meanwhile, the queued run reconciles.
    moved = copy.deepcopy(model)
    moved["status"]["latestVersion"] = 2
    memo2.model_changes.told(("ml", "iris"), model_part(moved))
    handlers.reconcile_follower(memo2, "ml", "iris", "iris")
    assert deployment_reads(kube) == ["iris"]
