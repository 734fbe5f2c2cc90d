"""Reading the in-flight gauge the server exports, one sampler pass, and the generated HPA."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from modelship.api.v1alpha1.autoscaling import Autoscaling
from modelship.contracts.serving_metrics import IN_FLIGHT_REQUESTS
from modelship.operator.deployment.autoscale import Windows
from modelship.operator.deployment.autoscale_sampler import operator_scaled, read_production
from modelship.operator.deployment.builders.hpa import build_hpa, quantity
from modelship.operator.deployment.scrape import ScrapeError, parse_in_flight
from modelship.operator.kube.resources import PODS
from modelship.serving.metrics import ServingMetrics
from support.autoscaling import Gauges, production_pod
from support.deployments import body, cluster

SPEC = Autoscaling(min_replicas=2, max_replicas=8, target_concurrency=4)


def test_the_gauge_is_read_from_what_the_server_exports() -> None:
    metrics = ServingMetrics(CollectorRegistry())
    for _ in range(3):
        metrics.in_flight.inc()
    metrics.in_flight.dec()
    assert parse_in_flight(generate_latest(metrics.exposition).decode()) == 2.0


def test_a_page_without_the_gauge_is_an_error() -> None:
    with pytest.raises(ScrapeError, match=IN_FLIGHT_REQUESTS):
        parse_in_flight("# TYPE other gauge\nother 1.0\n")
    with pytest.raises(ScrapeError, match="not Prometheus text"):
        parse_in_flight("{not: prometheus}\n")


def test_one_pass_sums_the_ready_pods_and_extrapolates_an_unread_one() -> None:
    kube = cluster()
    for name, ready in (("a", True), ("b", True), ("c", True), ("d", False)):
        kube.put(PODS, production_pod(name, ready))
    windows = Windows(60, 6)
    gauges = Gauges({"a": 6.0, "b": None, "c": 4.0})
    autoscaled = body({"production": {"promotedAt": "now"}})
    rec = read_production(kube, gauges, windows, autoscaled, SPEC, clock=lambda: 5.0)  # type: ignore[arg-type]
    assert rec is not None
    # a and c carry 10; b, unread, is taken at their average: 15 over 3 ready pods
    assert rec.stable_concurrency == 15 and rec.replicas == 4 and rec.pods_read == 2
    assert rec.error == "b: unreadable"


def test_with_no_ready_pod_there_is_no_reading() -> None:
    kube = cluster()
    kube.put(PODS, production_pod("a", ready=False))
    windows = Windows(60, 6)
    assert read_production(kube, Gauges({}), windows, body(), SPEC) is None  # type: ignore[arg-type]
    assert windows.latest(("ml", "iris")) is None


def test_only_promoted_operator_mode_production_is_read() -> None:
    scaled = {"replicas": 2, "autoscaling": {"maxReplicas": 3}}
    serving = {"production": {"promotedAt": "2025-03-01T12:00:00Z"}}
    assert operator_scaled(body(serving, production=scaled)) is not None
    assert operator_scaled(body({}, production=scaled)) is None  # nothing promoted yet
    assert operator_scaled(body(serving)) is None  # not autoscaled
    hpa = {"replicas": 2, "autoscaling": {"maxReplicas": 3, "mode": "hpa"}}
    assert operator_scaled(body(serving, production=hpa)) is None
    assert operator_scaled(body(serving, production=scaled, suspend=True)) is None
    invalid = {"autoscaling": {"minReplicas": 4, "maxReplicas": 3}}
    assert operator_scaled(body(serving, production=invalid)) is None


def test_the_hpa_scales_production_on_the_gauge_per_pod() -> None:
    hpa = build_hpa(body(), SPEC, 60)
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["kind"] == "HorizontalPodAutoscaler"
    assert hpa["metadata"]["name"] == "iris"
    assert hpa["metadata"]["ownerReferences"][0]["uid"] == "mdep-1"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "iris"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 8)
    assert spec["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": IN_FLIGHT_REQUESTS},
                "target": {"type": "AverageValue", "averageValue": "4"},
            },
        }
    ]
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60
    assert spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0


def test_targets_are_written_as_kubernetes_quantities() -> None:
    assert quantity(10) == "10"
    assert quantity(2.5) == "2500m"
    assert quantity(0.25) == "250m"
