"""The router's series carry exactly the contract's names and labels, with correct histograms."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from modelship.contracts.serving_metrics import (
    ROUTER_REQUEST_DURATION_SECONDS,
    ROUTER_REQUESTS_TOTAL,
    SHADOW_DURATION_SECONDS,
    SHADOW_REQUESTS_TOTAL,
    SHADOW_ROWS_TOTAL,
)
from modelship.router.metrics import RouterMetrics


def test_requests_and_their_latency_by_backend() -> None:
    registry = CollectorRegistry()
    metrics = RouterMetrics(registry)
    for seconds in (0.0007, 0.001, 0.3):
        metrics.observe("stable", 200, seconds)
    metrics.observe("canary", 504, 30.0)
    value = registry.get_sample_value
    assert value(ROUTER_REQUESTS_TOTAL, {"backend": "stable", "code": "200"}) == 3
    assert value(ROUTER_REQUESTS_TOTAL, {"backend": "canary", "code": "504"}) == 1
    bucket = ROUTER_REQUEST_DURATION_SECONDS + "_bucket"
    assert value(bucket, {"backend": "stable", "le": "0.0005"}) == 0
    assert value(bucket, {"backend": "stable", "le": "0.001"}) == 2  # le: the bound counts
    assert value(bucket, {"backend": "stable", "le": "0.5"}) == 3
    assert value(bucket, {"backend": "canary", "le": "10.0"}) == 0
    assert value(bucket, {"backend": "canary", "le": "+Inf"}) == 1
    assert value(ROUTER_REQUEST_DURATION_SECONDS + "_count", {"backend": "stable"}) == 3
    total = value(ROUTER_REQUEST_DURATION_SECONDS + "_sum", {"backend": "stable"})
    assert total == pytest.approx(0.3017)


def test_shadow_series_names_and_labels() -> None:
    registry = CollectorRegistry()
    metrics = RouterMetrics(registry)
    metrics.shadow_compared.inc()
    metrics.shadow_error.inc(2)
    metrics.shadow_dropped.inc(3)
    metrics.rows_agree.inc(4)
    metrics.rows_disagree.inc(5)
    metrics.production_seconds.observe(0.001)
    metrics.shadow_seconds.observe(0.002)
    value = registry.get_sample_value
    outcomes = {
        o: value(SHADOW_REQUESTS_TOTAL, {"outcome": o}) for o in ("compared", "error", "dropped")
    }
    assert outcomes == {"compared": 1, "error": 2, "dropped": 3}
    assert value(SHADOW_ROWS_TOTAL, {"agreement": "agree"}) == 4
    assert value(SHADOW_ROWS_TOTAL, {"agreement": "disagree"}) == 5
    for side in ("production", "shadow"):
        assert value(SHADOW_DURATION_SECONDS + "_count", {"side": side}) == 1
