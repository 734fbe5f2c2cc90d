"""Continuous training on the local cluster: production drift starts the loop again, once.

A Model serves production; traffic from the training distribution leaves it alone, traffic with
scaled features drifts it, exactly one `drift` TrainingJob follows, its version is tested while
production keeps the old one, and a second drift episode inside the cooldown trains nothing.
The catalog is the local cluster's registry (REGISTRY_CATALOG): no claim in the namespace, every
version pulled by digest.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_iris

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import (
    APPS_DEPLOYMENTS,
    MODEL_DEPLOYMENTS,
    MODELS,
    PVCS,
    TRAINING_JOBS,
    Resource,
)
from support.factories import iris_deployment, iris_model
from support.in_cluster import InClusterOperator
from support.live import (
    approve,
    awaiting_approval,
    infer,
    production_pod_ips,
    status_of,
    wait_for_status,
)
from support.waiting import wait_for

pytestmark = pytest.mark.e2e

EVENTS = Resource("", "v1", "events", "Event")
MODEL = iris_model(
    retraining={
        "drift": {"threshold": 0.2, "minRows": 200},
        "cooldownSeconds": 3600,
        "maxPerDay": 6,
    }
)
DEPLOYMENT = iris_deployment()
IRIS = load_iris().data.astype(float)
SHIFT = 1.8  # every feature scaled: the live distribution leaves the reference bins


# The operator runs in the cluster from manifests/default, reading drift every 2 seconds by the
# automatic access mode (in-cluster: pod addresses).
OPERATOR_ENV = {
    # A production pod on a loaded two-core host can take more than 30 s to be ready.
    "MODELSHIP_OPERATOR_ROLLOUT_DEADLINE_SECONDS": "90",
    "MODELSHIP_OPERATOR_DRIFT_INTERVAL_SECONDS": "2",
    "MODELSHIP_OPERATOR_DRIFT_ACCESS": "auto",
}
REGISTRY_CATALOG = True


def env_of_operator(operator: InClusterOperator) -> dict[str, str]:
    deployment = operator.deployment() or {}
    (container, *_) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def drift_jobs(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    return [t for t in kube.list(TRAINING_JOBS, namespace) if t["spec"].get("trigger") == "drift"]


def send(pods: list[str], rows: np.ndarray[Any, Any], times: int = 1) -> None:
    """Predict `rows` on every production pod, `times` times, in requests of at most 1000 rows."""
    batch = np.tile(rows, (times, 1))
    with httpx.Client(timeout=30) as client:
        for ip in pods:
            for start in range(0, len(batch), 1000):
                infer(client, ip, "iris", batch[start : start + 1000].tolist())


def retraining(kube: Kube, namespace: str) -> dict[str, Any]:
    return dict(status_of(kube, MODELS, namespace, "iris").get("retraining") or {})


def test_drift_in_production_retrains_once_and_the_cooldown_holds_the_next(
    in_cluster_operator: InClusterOperator, kube: Kube, namespace: str
) -> None:
    kube.create(MODELS, namespace, copy.deepcopy(MODEL))
    kube.create(MODEL_DEPLOYMENTS, namespace, copy.deepcopy(DEPLOYMENT))
    wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: s.get("phase") == "AwaitingApproval",
        what="version 1 to pass the test stage",
        timeout=180,
    )
    approve(kube, namespace, "iris")
    wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: s.get("phase") == "Serving" and s["production"].get("readyReplicas") == 2,
        what="version 1 in production",
    )
    pods = sorted(production_pod_ips(kube, namespace, "iris"))
    assert len(pods) == 2

    # traffic like the training data: drift is measured on both pods and stays below threshold
    send(pods, IRIS)
    drift = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: (s.get("drift") or {}).get("rows", 0) >= 2 * len(IRIS),
        what="the drift of 300 rows in status",
    )["drift"]
    assert drift["pods"] == 2 and drift["access"] == "pod" and drift["version"] == 1
    assert drift["overall"] < 0.2 and "error" not in drift
    assert {f["name"] for f in drift["features"]} == {
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    }
    wait_for(
        lambda: retraining(kube, namespace).get("reason") == "BelowThreshold",
        timeout=30,
        what="the Model to judge the drift below threshold",
        describe=lambda: str(retraining(kube, namespace)),
    )
    assert drift_jobs(kube, namespace) == []

    # scaled features: drift crosses the threshold and exactly one drift TrainingJob appears
    shifted_at = time.monotonic()
    send(pods, IRIS * SHIFT)
    jobs = wait_for(
        lambda: drift_jobs(kube, namespace),
        timeout=60,
        what="a TrainingJob with trigger drift",
        describe=lambda: str(retraining(kube, namespace)),
    )
    to_training_job = time.monotonic() - shifted_at
    assert len(jobs) == 1
    reason = jobs[0]["spec"]["reason"]
    assert "drift" in reason and "worst:" in reason and "(cm)=" in reason

    def retrain_events() -> list[dict[str, Any]]:
        return [
            e
            for e in kube.list(EVENTS, namespace)
            if e["involvedObject"].get("kind") == "Model" and e.get("reason") == "RetrainingRetrain"
        ]

    wait_for(retrain_events, timeout=20, what="the RetrainingRetrain event")

    # the drift version is tested, waits for approval, and production keeps version 1
    mdep = wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        awaiting_approval(2),
        what="the retrained version 2 to pass the test stage",
        timeout=150,
    )
    trained = kube.get(TRAINING_JOBS, namespace, jobs[0]["metadata"]["name"]) or {}
    assert trained["status"]["version"] == 2
    assert all(g["passed"] for g in trained["status"]["gates"])
    assert mdep["production"]["version"] == 1 and mdep["test"]["passed"] is True
    deployment = kube.get(APPS_DEPLOYMENTS, namespace, "iris") or {}
    assert deployment["spec"]["template"]["metadata"]["labels"]["modelship.io/version"] == "1"
    assert len(drift_jobs(kube, namespace)) == 1  # the same episode never trains twice
    catalog_uri = env_of_operator(in_cluster_operator).get("MODELSHIP_OPERATOR_CATALOG_URI")
    if catalog_uri:  # the local cluster: every version came from its registry, no volume at all
        assert kube.list(PVCS, namespace) == []
        assert mdep["test"]["artifact"].startswith(catalog_uri.split("?")[0].rsplit("/", 1)[0])

    # drift goes away (training-like traffic dilutes the window), then comes back: a new episode,
    # which the cooldown holds back
    send(pods, IRIS, times=20)
    wait_for(
        lambda: (retraining(kube, namespace).get("drift") or {}).get("open") is False,
        timeout=60,
        what="the drift episode to close",
        describe=lambda: str(retraining(kube, namespace)),
    )
    send(pods, IRIS * SHIFT, times=20)
    state = wait_for(
        lambda: (lambda r: r if r.get("reason") == "Cooldown" else None)(
            retraining(kube, namespace)
        ),
        timeout=60,
        what="the second drift episode to be held back by the cooldown",
        describe=lambda: str(retraining(kube, namespace)),
    )
    assert state["decision"] == "Deferred" and state["trigger"] == "drift"
    assert state["drift"]["episode"] == 2 and state["drift"]["open"] is True
    assert state["nextEligibleAt"] > state["lastAutomaticAt"]
    assert len(drift_jobs(kube, namespace)) == 1
    assert len(retrain_events()) == 1  # decisions that did not change posted nothing new
    assert (status_of(kube, MODEL_DEPLOYMENTS, namespace, "iris").get("production") or {}).get(
        "version"
    ) == 1
    print(f"\nshifted traffic -> drift TrainingJob in {to_training_job:.1f}s")
