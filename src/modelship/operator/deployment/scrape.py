"""What a canary analysis reads from an inference pod's `/metrics`, and the traffic in between.

The server's counters only grow while its process lives, so the traffic of a window is the
difference between two scrapes of the same pod; a counter that went down means the process
restarted, and then the second scrape alone is the window (what the new process served). The
windows of a version's pods add up to the version's window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families

from modelship.contracts.serving_metrics import (
    IN_FLIGHT_REQUESTS,
    INFERENCE_ROUTES,
    PREDICTION_VALUE,
    PREDICTIONS_TOTAL,
    REQUEST_DURATION_SECONDS,
    REQUESTS_TOTAL,
    SHADOW_DURATION_SECONDS,
    SHADOW_REQUESTS_TOTAL,
    SHADOW_ROWS_TOTAL,
)

K = TypeVar("K", str, float)


class ScrapeError(ValueError):
    """The text is not Prometheus exposition format, or lacks the request series."""


@dataclass(frozen=True)
class TrafficCounts:
    """Inference traffic of one pod (cumulative) or of a window (a difference).

    `latency` and `values` (predicted values of a regressor) map each histogram bucket's upper
    bound to its cumulative count (+Inf included); `classes` maps a predicted class label to the
    rows predicted as that class.
    """

    requests: float = 0.0
    errors: float = 0.0
    latency: Mapping[float, float] = field(default_factory=dict)
    classes: Mapping[str, float] = field(default_factory=dict)
    values: Mapping[float, float] = field(default_factory=dict)

    def __add__(self, other: TrafficCounts) -> TrafficCounts:
        return TrafficCounts(
            requests=self.requests + other.requests,
            errors=self.errors + other.errors,
            latency=_sum(self.latency, other.latency),
            classes=_sum(self.classes, other.classes),
            values=_sum(self.values, other.values),
        )

    def since(self, earlier: TrafficCounts | None) -> TrafficCounts:
        """The traffic between `earlier` and this scrape of the same pod."""
        if earlier is None or self.requests < earlier.requests:
            return self  # first sight of the pod, or its process restarted: all of it is new
        return TrafficCounts(
            requests=self.requests - earlier.requests,
            errors=max(0.0, self.errors - earlier.errors),
            latency=_minus(self.latency, earlier.latency),
            classes=_minus(self.classes, earlier.classes),
            values=_minus(self.values, earlier.values),
        )


def total(windows: Iterable[TrafficCounts]) -> TrafficCounts:
    result = TrafficCounts()
    for window in windows:
        result = result + window
    return result


def parse_traffic(text: str) -> TrafficCounts:
    """Read the inference series out of one `/metrics` answer."""
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, IndexError) as error:
        raise ScrapeError(f"not Prometheus text: {error}") from error
    requests = errors = 0.0
    latency: dict[float, float] = {}
    classes: dict[str, float] = {}
    values: dict[float, float] = {}
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            if sample.name == REQUESTS_TOTAL:
                if labels.get("route") in INFERENCE_ROUTES:
                    requests += sample.value
                    if labels.get("code", "").startswith("5"):
                        errors += sample.value
            elif sample.name == f"{REQUEST_DURATION_SECONDS}_bucket":
                if labels.get("route") in INFERENCE_ROUTES:
                    bound = float(labels["le"])
                    latency[bound] = latency.get(bound, 0.0) + sample.value
            elif sample.name == PREDICTIONS_TOTAL:
                classes[labels["class_label"]] = sample.value
            elif sample.name == f"{PREDICTION_VALUE}_bucket":
                values[float(labels["le"])] = sample.value
    if not any(family.name == REQUESTS_TOTAL.removesuffix("_total") for family in families):
        raise ScrapeError(f"no {REQUESTS_TOTAL} series: not a Modelship inference server")
    return TrafficCounts(requests, errors, latency, classes, values)


def parse_in_flight(text: str) -> float:
    """The pod's in-flight inference requests (summed over its workers by the server)."""
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, IndexError) as error:
        raise ScrapeError(f"not Prometheus text: {error}") from error
    values = [
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == IN_FLIGHT_REQUESTS
    ]
    if not values:
        raise ScrapeError(f"no {IN_FLIGHT_REQUESTS} gauge: not a Modelship inference server")
    return sum(values)


def quantile(latency: Mapping[float, float], q: float) -> float | None:
    """The q-quantile of a cumulative histogram, interpolated inside its bucket (as PromQL's
    histogram_quantile does); None without observations."""
    bounds = sorted(latency)
    if not bounds or latency[bounds[-1]] <= 0:
        return None
    rank = q * latency[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = latency[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the last finite bucket: its bound is all we know
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def _sum(a: Mapping[K, float], b: Mapping[K, float]) -> dict[K, float]:
    result = dict(a)
    for key, value in b.items():
        result[key] = result.get(key, 0.0) + value
    return result


def _minus(later: Mapping[K, float], earlier: Mapping[K, float]) -> dict[K, float]:
    return {key: max(0.0, value - earlier.get(key, 0.0)) for key, value in later.items()}


@dataclass(frozen=True)
class ShadowCounts:
    """The router's shadow series, summed over its pods (cumulative since each router started)."""

    compared: float = 0.0
    errors: float = 0.0
    dropped: float = 0.0
    agree: float = 0.0
    disagree: float = 0.0
    production_latency: Mapping[float, float] = field(default_factory=dict)
    shadow_latency: Mapping[float, float] = field(default_factory=dict)

    def __add__(self, other: ShadowCounts) -> ShadowCounts:
        return ShadowCounts(
            self.compared + other.compared,
            self.errors + other.errors,
            self.dropped + other.dropped,
            self.agree + other.agree,
            self.disagree + other.disagree,
            _sum(self.production_latency, other.production_latency),
            _sum(self.shadow_latency, other.shadow_latency),
        )

    @property
    def agreement(self) -> float | None:
        rows = self.agree + self.disagree
        return None if rows <= 0 else self.agree / rows


def parse_shadow(text: str) -> ShadowCounts:
    """Read the shadow series out of one router `/metrics` answer."""
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, IndexError) as error:
        raise ScrapeError(f"not Prometheus text: {error}") from error
    outcomes: dict[str, float] = {}
    agreement: dict[str, float] = {}
    latency: dict[str, dict[float, float]] = {"production": {}, "shadow": {}}
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            if sample.name == SHADOW_REQUESTS_TOTAL:
                outcomes[labels.get("outcome", "")] = sample.value
            elif sample.name == SHADOW_ROWS_TOTAL:
                agreement[labels.get("agreement", "")] = sample.value
            elif sample.name == f"{SHADOW_DURATION_SECONDS}_bucket":
                side = latency.get(labels.get("side", ""))
                if side is not None:
                    side[float(labels["le"])] = sample.value
    return ShadowCounts(
        compared=outcomes.get("compared", 0.0),
        errors=outcomes.get("error", 0.0),
        dropped=outcomes.get("dropped", 0.0),
        agree=agreement.get("agree", 0.0),
        disagree=agreement.get("disagree", 0.0),
        production_latency=latency["production"],
        shadow_latency=latency["shadow"],
    )
