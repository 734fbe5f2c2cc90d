"""A Model lists its Deployments when its retraining reads what they measure, and only then.

A Model retraining on live performance alone (no drift policy) once never looked at its
Deployments, so production's measured decay never reached it and it could not retrain.
"""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import Model
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS
from modelship.operator.model.observe import observe
from support.factories import iris_deployment, iris_model
from support.fake_kube import FakeKube


def observed_deployments(retraining: dict[str, Any]) -> list[str]:
    kube = FakeKube()
    served = iris_deployment(metadata={"namespace": "ml"})
    served["status"] = {
        "drift": {"version": 1, "overall": 0.4, "checkedAt": "2026-12-07T12:00:00Z"}
    }
    kube.put(MODEL_DEPLOYMENTS, served)
    body = iris_model(metadata={"namespace": "ml", "uid": "u1"})
    body["spec"]["retraining"] = retraining
    return [d.name for d in observe(kube, body, Model.model_validate(body), None).deployments]


def test_a_model_retraining_on_live_performance_alone_observes_its_deployments() -> None:
    assert observed_deployments({"performance": {"below": 0.8}}) == ["iris"]


def test_a_model_retraining_on_drift_observes_its_deployments() -> None:
    assert observed_deployments({"drift": {"threshold": 0.3}}) == ["iris"]


def test_a_model_reading_no_measurement_lists_no_deployment() -> None:
    assert observed_deployments({}) == []
