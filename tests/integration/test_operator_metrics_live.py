"""Operator metrics on a real loop: they appear, move with it, and feed the dashboard and alerts.

One Model goes through training, the test stage, approval and production on the local cluster,
with the operator as a real process; its /metrics page is read as Prometheus would read it, at
each step. The dashboard's and the alert rules' queries are then checked against the names this
operator and a real production inference pod exported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS
from support.factories import iris_deployment, iris_model
from support.live import SERVING_PORT, approve, infer, production_pod_ips, wait_for_status
from support.operator import OperatorProcess
from support.promql import dashboard_queries, exported_names, metric_names, rule_queries
from support.waiting import wait_for

pytestmark = pytest.mark.integration


def sample(page: str, metric: str, **labels: str) -> float | None:
    """The value of one series on a /metrics page (None when it is not there)."""
    for family in text_string_to_metric_families(page):
        for found in family.samples:
            if found.name == metric and labels.items() <= found.labels.items():
                return float(found.value)
    return None


@pytest.fixture
def standby(
    operator: OperatorProcess, cluster_kubeconfig: Path, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """A second operator beside the leader: it stands by (the Lease is held) and exports that."""
    wait_for(
        lambda: sample(operator.metrics(), "modelship_operator_leader") == 1,
        timeout=30,
        what="the first operator to lead",
    )
    process = OperatorProcess(cluster_kubeconfig, tmp_path)
    process.start()
    yield process
    process.stop()


def test_metrics_appear_and_move_through_the_loop(
    operator: OperatorProcess, standby: OperatorProcess, kube: Kube, namespace: str
) -> None:
    assert sample(operator.metrics(), "modelship_operator_leader") == 1
    assert sample(standby.metrics(), "modelship_operator_leader") == 0  # served while it waits
    ids = {"namespace": namespace, "name": "iris"}

    kube.create(MODELS, namespace, iris_model("iris"))
    kube.create(MODEL_DEPLOYMENTS, namespace, iris_deployment("iris"))
    wait_for_status(
        kube,
        MODEL_DEPLOYMENTS,
        namespace,
        "iris",
        lambda s: s.get("phase") == "AwaitingApproval",
        180,
    )
    page = operator.metrics()
    model = {"namespace": namespace, "model": "iris"}
    assert sample(page, "modelship_versions_published_total", **model) == 1
    finished = {**model, "trigger": "spec-change", "outcome": "Succeeded"}
    assert sample(page, "modelship_trainingjobs_finished_total", **finished) == 1
    assert sample(page, "modelship_training_duration_seconds_count", outcome="Succeeded") == 1
    assert sample(page, "modelship_model_latest_version", **ids) == 1
    assert sample(page, "modelship_deployment_phase", **ids, phase="AwaitingApproval") == 1
    assert sample(page, "modelship_deployment_phase", **ids, phase="Serving") == 0
    assert sample(page, "modelship_deployment_tests_total", result="passed") == 1
    assert sample(page, "modelship_deployment_awaiting_approval_timestamp_seconds", **ids)
    for kind in ("Model", "TrainingJob", "Deployment"):
        assert (sample(page, "modelship_operator_reconciles_total", kind=kind) or 0) > 0, kind

    approve(kube, namespace, "iris")
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris", lambda s: s.get("phase") == "Serving", 180
    )
    page = operator.metrics()
    assert sample(page, "modelship_deployment_phase", **ids, phase="Serving") == 1
    assert sample(page, "modelship_deployment_phase", **ids, phase="AwaitingApproval") == 0
    assert sample(page, "modelship_deployment_version", **ids, stage="production") == 1
    assert sample(page, "modelship_deployment_awaiting_approval_timestamp_seconds", **ids) is None
    assert sample(page, "modelship_deployment_approval_wait_seconds_count") == 1
    assert sample(page, "modelship_deployment_approval_to_serving_seconds_count") == 1
    assert sample(page, "modelship_deployment_rolled_back", **ids) == 0

    # A production pod's own metrics, after a prediction: the serving half of the dashboard.
    wait_for(
        lambda: production_pod_ips(kube, namespace, "iris"), timeout=60, what="production pods"
    )
    ip = production_pod_ips(kube, namespace, "iris")[0]
    with httpx.Client(timeout=10) as client:
        assert len(infer(client, ip, "iris", [[5.1, 3.5, 1.4, 0.2]])) == 1
        serving = client.get(f"http://{ip}:{SERVING_PORT}/metrics").text
    assert (sample(serving, "modelship_http_requests_total", route="infer", code="200") or 0) >= 1

    seen = exported_names(page) | exported_names(standby.metrics()) | exported_names(serving)
    for title, exprs in dashboard_queries().items():
        for expr in exprs:
            assert metric_names(expr) <= seen, f"panel {title!r}: {metric_names(expr) - seen}"
    for alert, expr in rule_queries().items():
        assert metric_names(expr) <= seen, f"alert {alert}: {metric_names(expr) - seen}"
