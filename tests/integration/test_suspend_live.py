"""`spec.suspend` against a real API server: observed, nothing started; resumed, it proceeds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import (
    APPS_DEPLOYMENTS,
    MODEL_DEPLOYMENTS,
    MODELS,
    TRAINING_JOBS,
)
from support.factories import iris_deployment, iris_model
from support.live import awaiting_approval, condition, wait_for_status
from support.operator import OperatorProcess

pytestmark = pytest.mark.integration


def suspended_and_observed(status: dict[str, Any]) -> bool:
    return status.get("observedGeneration") == 1 and (
        condition(status, "Suspended")["status"] == "True"
    )


def test_suspended_objects_start_nothing_until_resumed(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    kube.create(MODELS, namespace, iris_model("iris", suspend=True))
    kube.create(MODEL_DEPLOYMENTS, namespace, iris_deployment("iris", suspend=True))
    model = wait_for_status(kube, MODELS, namespace, "iris", suspended_and_observed,
                            describe=operator.tail)  # fmt: skip
    deployment = wait_for_status(kube, MODEL_DEPLOYMENTS, namespace, "iris",
                                 suspended_and_observed, describe=operator.tail)  # fmt: skip
    assert model["pendingTrigger"] == "spec-change"  # the first version waits for the resume
    assert deployment["phase"] == "Pending"
    time.sleep(3)  # long enough for a TrainingJob and a test stage to have appeared
    assert kube.list(TRAINING_JOBS, namespace) == []
    assert kube.list(APPS_DEPLOYMENTS, namespace) == []

    # The Model resumes: it trains. The Deployment is still suspended: it rolls out nothing.
    kube.patch(MODELS, namespace, "iris", {"spec": {"suspend": False}})
    model = wait_for_status(kube, MODELS, namespace, "iris", lambda s: s.get("latestVersion"),
                            timeout=180, describe=operator.tail)  # fmt: skip
    assert condition(model, "Suspended")["reason"] == "Resumed"
    assert len(kube.list(TRAINING_JOBS, namespace)) == 1
    time.sleep(3)
    assert kube.list(APPS_DEPLOYMENTS, namespace) == []
    held = kube.get(MODEL_DEPLOYMENTS, namespace, "iris") or {}
    assert condition(held["status"], "Suspended")["status"] == "True"

    # The Deployment resumes: the version is tested and waits for approval.
    kube.patch(MODEL_DEPLOYMENTS, namespace, "iris", {"spec": {"suspend": False}})
    wait_for_status(kube, MODEL_DEPLOYMENTS, namespace, "iris", awaiting_approval(1),
                    timeout=180, describe=operator.tail)  # fmt: skip
