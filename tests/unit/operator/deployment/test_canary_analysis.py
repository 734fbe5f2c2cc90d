"""The canary analysis: the server's own metrics text parsed back, windows, and the verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from modelship.api.v1alpha1.progressive import AnalysisThresholds
from modelship.operator.deployment.analysis import judge_window, population_stability
from modelship.operator.deployment.scrape import ScrapeError, TrafficCounts, parse_traffic, quantile
from modelship.serving.drift import DriftMonitor, FeatureBins
from modelship.serving.metrics import ServingMetrics

LABELS = {"model": "iris", "namespace": "ns", "version": "1", "digest": "d", "stage": "s"}
THRESHOLDS = AnalysisThresholds()


def server(classes: list[str] | None) -> ServingMetrics:
    """The inference server's own metrics object: what the operator parses is what it exports."""
    metrics = ServingMetrics(CollectorRegistry())
    drift = DriftMonitor([FeatureBins("x", [0.0], [0.5, 0.5])], window_rows=100, epsilon=1e-4)
    metrics.model_loaded({**LABELS, "engine": "e"}, classes, [0.5, 1.0, 2.0], drift)
    return metrics


def scrape(metrics: ServingMetrics) -> TrafficCounts:
    return parse_traffic(generate_latest(metrics.registry).decode())


def serve(
    metrics: ServingMetrics, n: int, *, code: int = 200, seconds: float = 0.002, predicted: int = 0
) -> None:
    for _ in range(n):
        metrics.observe_request("infer", "POST", code, seconds)
        if code == 200:
            metrics.observe_predictions(1, np.array([predicted]), np.array([predicted]))


def test_the_servers_own_series_are_read_back() -> None:
    metrics = server(["setosa", "versicolor", "virginica"])
    serve(metrics, 7, predicted=1)
    serve(metrics, 2, code=503)
    metrics.observe_request("health_ready", "GET", 200, 0.0001)  # not inference traffic
    counts = scrape(metrics)
    assert (counts.requests, counts.errors) == (9, 2)
    assert counts.classes == {"setosa": 0, "versicolor": 7, "virginica": 0}
    assert counts.latency[math.inf] == 9


def test_numeric_class_labels_stay_class_labels() -> None:
    metrics = server(["0", "1", "2"])
    serve(metrics, 3, predicted=2)
    assert scrape(metrics).classes == {"0": 0, "1": 0, "2": 3}


def test_regression_predictions_are_value_buckets() -> None:
    metrics = server(None)
    metrics.observe_request("infer", "POST", 200, 0.001)
    metrics.observe_predictions(2, None, np.array([0.7, 1.5]))
    counts = scrape(metrics)
    assert counts.classes == {}
    assert counts.values == {0.5: 0, 1.0: 1, 2.0: 2, math.inf: 2}


def test_text_that_is_not_a_modelship_server_is_refused() -> None:
    with pytest.raises(ScrapeError):
        parse_traffic("# TYPE other counter\nother_total 3\n")


def test_a_window_is_the_difference_between_two_scrapes() -> None:
    metrics = server(["a", "b"])
    serve(metrics, 5)
    before = scrape(metrics)
    serve(metrics, 3, predicted=1)
    serve(metrics, 1, code=500)
    window = scrape(metrics).since(before)
    assert (window.requests, window.errors) == (4, 1)
    assert window.classes == {"a": 0, "b": 3}


def test_a_restarted_server_counts_from_its_restart() -> None:
    old = server(["a"])
    serve(old, 50)
    new = server(["a"])
    serve(new, 4)
    assert scrape(new).since(scrape(old)).requests == 4


def test_pods_add_up() -> None:
    a, b = TrafficCounts(requests=3, errors=1, classes={"x": 3}), TrafficCounts(requests=2)
    total = a + b
    assert (total.requests, total.errors, total.classes) == (5, 1, {"x": 3})


def test_quantile_interpolates_inside_the_bucket() -> None:
    latency = {0.001: 0.0, 0.002: 100.0, math.inf: 100.0}
    assert quantile(latency, 0.95) == pytest.approx(0.00195)
    assert quantile({0.001: 0.0, math.inf: 0.0}, 0.95) is None
    assert quantile({0.001: 10.0, math.inf: 20.0}, 0.95) == 0.001  # beyond the last bound


def window(
    requests: int,
    *,
    errors: int = 0,
    seconds: float = 0.002,
    classes: dict[str, float] | None = None,
) -> TrafficCounts:
    latency = {0.001: 0.0, 0.0025: 0.0, 0.005: 0.0, 0.05: 0.0, 0.25: 0.0, math.inf: 0.0}
    for bound in latency:
        if seconds <= bound:
            latency[bound] = float(requests)
    return TrafficCounts(
        requests=requests,
        errors=errors,
        latency=latency,
        classes=classes if classes is not None else {"a": requests / 2, "b": requests / 2},
    )


def test_too_few_requests_on_either_side_is_inconclusive_never_a_pass() -> None:
    verdict = judge_window(0, window(500), window(20), THRESHOLDS, min_requests=100)
    assert verdict.outcome == "Inconclusive"
    assert "canary answered 20 of the 100 requests needed" in verdict.message
    verdict = judge_window(0, window(0), window(0), THRESHOLDS, min_requests=1)
    assert verdict.outcome == "Inconclusive"


def test_a_canary_like_stable_passes_with_every_metric_shown() -> None:
    verdict = judge_window(1, window(400), window(120), THRESHOLDS, min_requests=100)
    assert verdict.outcome == "Passed"
    assert [c.metric for c in verdict.comparisons] == ["errorRate", "latencyP95", "predictionPsi"]
    assert all(c.passed for c in verdict.comparisons)
    assert (verdict.stable_requests, verdict.canary_requests) == (400, 120)


def test_errors_fail_the_canary_naming_both_rates() -> None:
    verdict = judge_window(0, window(400, errors=2), window(200, errors=20), THRESHOLDS, 100)
    assert verdict.outcome == "Failed"
    failing = verdict.comparisons[0]
    assert (failing.metric, failing.stable, failing.canary) == ("errorRate", 0.005, 0.1)
    assert verdict.message.startswith("errorRate of the canary 10.00% against stable's 0.50%")


def test_slow_canary_fails_but_a_small_absolute_difference_does_not() -> None:
    slow = judge_window(0, window(400), window(200, seconds=0.2), THRESHOLDS, 100)
    assert slow.outcome == "Failed" and slow.comparisons[1].metric == "latencyP95"
    assert "latencyP95" in slow.message and "ms" in slow.message
    # 2x slower, but within the 5 ms slack: not a failure
    slack = judge_window(0, window(400, seconds=0.001), window(200, seconds=0.004), THRESHOLDS, 100)
    assert slack.outcome == "Passed"


def test_moved_predictions_fail_the_canary() -> None:
    stable = window(400, classes={"a": 200, "b": 200})
    canary = window(200, classes={"a": 190, "b": 10})
    verdict = judge_window(0, stable, canary, THRESHOLDS, 100)
    assert verdict.outcome == "Failed"
    assert verdict.comparisons[2].metric == "predictionPsi" and not verdict.comparisons[2].passed


def test_psi_of_identical_distributions_is_zero_and_is_symmetric_in_categories() -> None:
    assert population_stability({"a": 5, "b": 5}, {"a": 50, "b": 50}) == pytest.approx(0)
    assert population_stability({"a": 10}, {"b": 10}) > 1  # nothing in common
    assert population_stability({}, {"a": 1}) is None
