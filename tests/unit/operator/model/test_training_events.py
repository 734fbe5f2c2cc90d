"""A TrainingJob's events reconcile its Model only when what the Model reads of the run moved."""

from __future__ import annotations

import copy
import logging
from typing import Any

import kopf
import pytest

from modelship.operator import handlers
from modelship.operator.kube.changes import Changes

LOG = logging.getLogger(__name__)


def run(phase: str) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ml",
            "name": "iris-g1",
            "labels": {"modelship.io/model": "iris"},
            "finalizers": [],
            "annotations": {},
        },
        "spec": {"modelRef": {"name": "iris"}, "trigger": "spec-change"},
        "status": {"phase": phase},
    }


def test_kopf_s_own_patches_of_a_run_do_not_reconcile_its_model(monkeypatch: Any) -> None:
    looked: list[str] = []
    monkeypatch.setattr(handlers, "_model", lambda _m, ns, name, _l: looked.append(name))
    memo = kopf.Memo(training_changes=Changes())

    def event(body: dict[str, Any], type: str = "MODIFIED") -> None:
        handlers.training_job_event(body=body, memo=memo, logger=LOG, type=type)

    event(run("Running"), "ADDED")
    assert looked == ["iris"]
    finalized = run("Running")
    finalized["metadata"]["finalizers"] = ["kopf.zalando.org/KopfFinalizerMarker"]
    event(finalized)  # the daemon's finalizer
    touched = copy.deepcopy(finalized)
    touched["metadata"]["annotations"]["kopf.zalando.org/touch-dummy"] = "2026-12-08T00:00:00"
    event(touched)  # Kopf waking itself up
    assert looked == ["iris"]
    event(run("Succeeded"))  # what the Model reads moved: its versions may have changed
    assert looked == ["iris", "iris"]
    event(run("Succeeded"), "DELETED")  # gone (pruned by the history limit): a last look
    event(run("Succeeded"), "ADDED")  # a new run of the same name starts unknown
    assert looked == ["iris", "iris", "iris", "iris"]


def test_a_failed_reconcile_is_tried_again_at_the_next_event(monkeypatch: Any) -> None:
    calls: list[str] = []

    def failing(_m: Any, _ns: str, name: str, _l: Any) -> None:
        calls.append(name)
        if len(calls) == 1:
            raise RuntimeError("the API server is away")

    monkeypatch.setattr(handlers, "_model", failing)
    memo = kopf.Memo(training_changes=Changes())
    with pytest.raises(RuntimeError):  # Kopf logs it; the run's fingerprint is not recorded
        handlers.training_job_event(body=run("Running"), memo=memo, logger=LOG, type="ADDED")
    handlers.training_job_event(body=run("Running"), memo=memo, logger=LOG, type="MODIFIED")
    assert calls == ["iris", "iris"]  # the same run, unchanged, but its Model never saw it
