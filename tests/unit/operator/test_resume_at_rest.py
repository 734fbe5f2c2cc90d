"""A restart resumes a suspended object at rest without a reconcile, hence without a request."""

from __future__ import annotations

import copy
import logging
from typing import Any

import kopf
import pytest
from prometheus_client import CollectorRegistry

from modelship.operator import deployment_handlers, handlers
from modelship.operator.deployment import decide as deployment_decide
from modelship.operator.deployment.followers import DeploymentFollowers
from modelship.operator.kube import resume
from modelship.operator.kube.resume import suspended_at_rest
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.model import decide as model_decide

LOG = logging.getLogger(__name__)


def suspended(generation: int = 3, observed: int = 3, **condition: str) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ml", "name": "iris", "generation": generation},
        "spec": {"suspend": True, "modelRef": {"name": "iris"}},
        "status": {
            "observedGeneration": observed,
            "phase": "Pending",
            "conditions": [{"type": "Suspended", "status": "True", **condition}],
        },
    }


def test_only_a_suspension_recorded_for_the_current_generation_is_at_rest() -> None:
    assert suspended_at_rest(suspended())
    assert not suspended_at_rest(suspended(generation=4))  # a spec change not yet acted on
    assert not suspended_at_rest(suspended(status="False"))  # resumed: its work goes on
    never = suspended()
    never["status"] = {}
    assert not suspended_at_rest(never)  # created while the operator was down
    running = suspended()
    running["spec"]["suspend"] = False
    assert not suspended_at_rest(running)
    deleting = suspended()
    deleting["metadata"]["deletionTimestamp"] = "2025-03-01T12:00:00Z"
    assert not suspended_at_rest(deleting)


def test_the_condition_is_the_one_both_kinds_set() -> None:
    assert resume.SUSPENDED == model_decide.SUSPENDED == deployment_decide.SUSPENDED == "Suspended"


@pytest.fixture
def reconciled(monkeypatch: Any) -> list[str]:
    done: list[str] = []
    monkeypatch.setattr(handlers, "_model", lambda *_: done.append("model"))
    monkeypatch.setattr(deployment_handlers, "_deployment", lambda *_: done.append("deployment"))
    return done


def memo() -> kopf.Memo:
    return kopf.Memo(
        models_reading_deployments={},
        deployment_followers=DeploymentFollowers(),
        metrics=OperatorMetrics(CollectorRegistry(), lambda: True),
    )


@pytest.mark.parametrize("reason", ["create", "update"])
def test_a_create_or_an_update_is_reconciled_even_when_suspended(
    reconciled: list[str], reason: str
) -> None:
    body, state = suspended(), memo()
    meta = body["metadata"]
    handlers.model_changed(body=body, meta=meta, reason=reason, memo=state, logger=LOG)
    deployment_handlers.deployment_changed(body=body, meta=meta, reason=reason, memo=state)
    assert reconciled == ["model", "deployment"]


def test_a_resume_reconciles_unless_suspended_at_rest(reconciled: list[str]) -> None:
    state = memo()
    at_rest = suspended()
    model_body = copy.deepcopy(at_rest)
    model_body["spec"]["retraining"] = {"drift": {"threshold": 0.2}}
    meta = at_rest["metadata"]
    handlers.model_changed(body=model_body, meta=meta, reason="resume", memo=state, logger=LOG)
    deployment_handlers.deployment_changed(body=at_rest, meta=meta, reason="resume", memo=state)
    assert reconciled == []
    # What a reconcile would have set without a request: the Model's reading of its
    # Deployments, and the Deployment's phase gauge.
    assert state.models_reading_deployments == {("ml", "iris"): True}
    phase = {"namespace": "ml", "name": "iris", "phase": "Pending"}
    assert state.metrics.registry.get_sample_value("modelship_deployment_phase", phase) == 1

    moved = suspended(generation=4)
    handlers.model_changed(body=moved, meta=meta, reason="resume", memo=state, logger=LOG)
    deployment_handlers.deployment_changed(body=moved, meta=meta, reason="resume", memo=state)
    assert reconciled == ["model", "deployment"]
