"""Judge one window of live traffic: is the canary worse than the stable version?

A window with fewer than `minRequests` answers on either side is inconclusive: the step waits
and never passes on no evidence. Otherwise each metric is compared and the first that fails
names the verdict, with both sides' values, so `RolledBack` can say exactly why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from modelship.api.v1alpha1 import utcnow
from modelship.api.v1alpha1.progressive import (
    AnalysisResult,
    AnalysisThresholds,
    MetricComparison,
)
from modelship.operator.deployment.scrape import TrafficCounts, quantile

PSI_FLOOR = 1e-4
"""Share given to a class or bin one side never predicted, so PSI stays finite."""


def judge_window(
    step: int,
    stable: TrafficCounts,
    canary: TrafficCounts,
    thresholds: AnalysisThresholds,
    min_requests: int,
    at: str | None = None,
) -> AnalysisResult:
    at = at or utcnow()
    counts = {"stable_requests": int(stable.requests), "canary_requests": int(canary.requests)}
    short = [
        f"{side} answered {int(window.requests)} of the {min_requests} requests needed"
        for side, window in (("stable", stable), ("canary", canary))
        if window.requests < min_requests
    ]
    if short:
        return AnalysisResult(
            step=step, outcome="Inconclusive", at=at, message="; ".join(short), **counts
        )
    comparisons = [
        _error_rate(stable, canary, thresholds),
        _latency(stable, canary, thresholds),
        _predictions(stable, canary, thresholds),
    ]
    failed = [c for c in comparisons if not c.passed]
    if failed:
        first = failed[0]
        message = (
            f"{first.metric} of the canary {_shown(first.metric, first.canary)} against stable's "
            f"{_shown(first.metric, first.stable)} exceeds {first.limit}"
        )
        outcome = "Failed"
    else:
        message = "the canary is within every threshold"
        outcome = "Passed"
    return AnalysisResult(
        step=step, outcome=outcome, at=at, comparisons=comparisons, message=message, **counts
    )


def _error_rate(
    stable: TrafficCounts, canary: TrafficCounts, thresholds: AnalysisThresholds
) -> MetricComparison:
    stable_rate = stable.errors / stable.requests
    canary_rate = canary.errors / canary.requests
    bound = stable_rate + thresholds.max_error_rate_increase
    return MetricComparison(
        metric="errorRate",
        stable=round(stable_rate, 6),
        canary=round(canary_rate, 6),
        limit=f"stable + {thresholds.max_error_rate_increase:g}",
        passed=canary_rate <= bound + 1e-12,
    )


def _latency(
    stable: TrafficCounts, canary: TrafficCounts, thresholds: AnalysisThresholds
) -> MetricComparison:
    stable_p95, canary_p95 = quantile(stable.latency, 0.95), quantile(canary.latency, 0.95)
    limit = (
        f"{thresholds.max_latency_ratio:g}x stable or stable + {thresholds.latency_slack_ms:g} ms"
    )
    if stable_p95 is None or canary_p95 is None:
        # Requests were counted but their durations were not: no latency evidence, no verdict on it.
        return MetricComparison(
            metric="latencyP95", stable=stable_p95, canary=canary_p95, limit=limit, passed=True
        )
    bound = max(
        stable_p95 * thresholds.max_latency_ratio, stable_p95 + thresholds.latency_slack_ms / 1000
    )
    return MetricComparison(
        metric="latencyP95",
        stable=round(stable_p95, 6),
        canary=round(canary_p95, 6),
        limit=limit,
        passed=canary_p95 <= bound,
    )


def _predictions(
    stable: TrafficCounts, canary: TrafficCounts, thresholds: AnalysisThresholds
) -> MetricComparison:
    if stable.classes or canary.classes:
        psi = population_stability(stable.classes, canary.classes)
    else:
        psi = population_stability(_own_counts(stable.values), _own_counts(canary.values))
    return MetricComparison(
        metric="predictionPsi",
        stable=0.0,
        canary=None if psi is None else round(psi, 6),
        limit=f"PSI {thresholds.max_prediction_psi:g}",
        passed=psi is None or psi <= thresholds.max_prediction_psi,
    )


def population_stability(
    expected: Mapping[Any, float], actual: Mapping[Any, float]
) -> float | None:
    """PSI of `actual`'s distribution over the same categories against `expected`'s; None when
    either side has no predictions (a server that does not count them cannot be judged on them)."""
    expected_total, actual_total = sum(expected.values()), sum(actual.values())
    if expected_total <= 0 or actual_total <= 0:
        return None
    psi = 0.0
    for key in set(expected) | set(actual):
        e = max(expected.get(key, 0.0) / expected_total, PSI_FLOOR)
        a = max(actual.get(key, 0.0) / actual_total, PSI_FLOOR)
        psi += (a - e) * math.log(a / e)
    return psi


def _own_counts(cumulative: Mapping[float, float]) -> dict[float, float]:
    """Histogram buckets on the wire are cumulative; PSI needs each bin's own count."""
    result: dict[float, float] = {}
    previous = 0.0
    for bound in sorted(cumulative):
        result[bound] = max(0.0, cumulative[bound] - previous)
        previous = cumulative[bound]
    return result


def _shown(metric: str, value: float | None) -> str:
    if value is None:
        return "unknown"
    if metric == "errorRate":
        return f"{value:.2%}"
    if metric == "latencyP95":
        return f"{value * 1000:.1f} ms"
    return f"{value:.3f}"
