"""What the live canary tests share: a Model without gates, a Deployment whose production rolls
out by the `rollout` given, the waiter on its status, and how to read the canary's status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS
from support.factories import iris_deployment, iris_model
from support.live import wait_for_status
from support.operator import OperatorProcess

Obj = dict[str, Any]
Wait = Callable[..., Obj]


def canary(status: Obj) -> Obj:
    """The rollout under way, as status reports it ({} when none)."""
    return status.get("canary") or {}


def deploy_canary(
    kube: Kube,
    operator: OperatorProcess,
    namespace: str,
    name: str,
    *,
    replicas: int,
    rollout: Obj,
) -> Wait:
    """Apply Model `name` (every version passes: no gates) and its Deployment; returns
    `wait(check, timeout=180)` on the Deployment's status, showing the operator's log on failure.
    """
    kube.create(
        MODELS,
        namespace,
        iris_model(name, evaluation={"testFraction": 0.3, "seed": 3, "gates": []}),
    )
    deployment = iris_deployment(
        name,
        test={"replicas": 1, "acceptance": {"minAccuracy": 0.5, "maxLatencyMs": 1000}},
        production={"replicas": replicas, "rollout": rollout},
    )
    kube.create(MODEL_DEPLOYMENTS, namespace, deployment)

    def wait(check: Callable[[Obj], Any], timeout: float = 180) -> Obj:
        return wait_for_status(
            kube, MODEL_DEPLOYMENTS, namespace, name, check, timeout, describe=operator.tail
        )

    return wait
