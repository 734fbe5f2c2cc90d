"""The Grafana dashboard loads as JSON, is laid out as Grafana expects, and every query uses only
metrics that the operator and the inference server declare (tests/integration/
test_operator_metrics_live.py checks them against what a real loop exports, too)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from modelship.operator.metrics import OperatorMetrics
from modelship.serving.metrics import ServingMetrics
from support.promql import dashboard, dashboard_queries, exported_names, metric_names, rule_queries


def declared() -> set[str]:
    operator = OperatorMetrics(CollectorRegistry(), lambda: True)
    serving = ServingMetrics(CollectorRegistry())
    return exported_names(
        (generate_latest(operator.registry) + generate_latest(serving.registry)).decode()
    )


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
            assert all(t["refId"] and t["expr"] for t in panel["targets"]), panel["title"]


def test_the_dashboard_covers_the_loop() -> None:
    used = set().union(*(metric_names(e) for es in dashboard_queries().values() for e in es))
    for needed in (
        "modelship_model_latest_version",  # models and versions
        "modelship_trainingjobs_finished_total",  # training outcomes
        "modelship_deployment_awaiting_approval_timestamp_seconds",  # what waits, how long
        "modelship_deployment_version",  # production versions
        "modelship_http_requests_total",  # request rate and errors per model
        "modelship_http_request_duration_seconds_bucket",  # latency per model
        "modelship_deployment_drift_psi",  # drift
    ):
        assert needed in used


def test_every_query_uses_declared_metrics_only() -> None:
    known = declared()
    for title, exprs in dashboard_queries().items():
        for expr in exprs:
            assert metric_names(expr), f"{title}: {expr} queries no modelship metric"
            assert metric_names(expr) <= known, f"{title}: {metric_names(expr) - known}"
    for alert, expr in rule_queries().items():
        assert metric_names(expr) <= known, f"{alert}: {metric_names(expr) - known}"


def test_the_name_check_can_fail() -> None:
    """A misspelt metric is caught; a label name that starts like a metric is not taken for one."""
    names = metric_names(
        'sum by (modelship_io_model) (rate(modelship_http_requestz_total{a="b"}[5m]))'
    )
    assert names == {"modelship_http_requestz_total"}
    assert not names <= declared()
