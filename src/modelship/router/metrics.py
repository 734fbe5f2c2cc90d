"""The router's Prometheus series, in a registry it is given (no globals).

Names come from `modelship.contracts.serving_metrics`: the operator reads the shadow series
back into `status.test.shadow`. The per-request series are a small collector of plain integers
(`_RoutedRequests`); the shadow series, updated off the callers' path, use label children
resolved once.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from modelship.contracts.serving_metrics import (
    ROUTER_REQUEST_DURATION_SECONDS,
    ROUTER_REQUESTS_TOTAL,
    SHADOW_DURATION_SECONDS,
    SHADOW_REQUESTS_TOTAL,
    SHADOW_ROWS_TOTAL,
)

IN_FLIGHT = "modelship_router_in_flight_requests"
GRPC_CONNECTIONS = "modelship_router_grpc_connections"
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

_COUNTER_SUFFIX = "_total"  # prometheus_client appends it to a Counter's name


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._routed = _RoutedRequests()
        registry.register(self._routed)
        # Read at scrape time from a plain counter the proxy keeps: no lock on the hot path.
        self.in_flight = 0
        Gauge(IN_FLIGHT, "Requests being forwarded now.", registry=registry).set_function(
            lambda: self.in_flight
        )
        shadow_requests = Counter(
            SHADOW_REQUESTS_TOTAL.removesuffix(_COUNTER_SUFFIX),
            "Mirrored requests by outcome: compared, error, dropped.",
            ["outcome"],
            registry=registry,
        )
        shadow_rows = Counter(
            SHADOW_ROWS_TOTAL.removesuffix(_COUNTER_SUFFIX),
            "Rows of compared requests by agreement of shadow with production.",
            ["agreement"],
            registry=registry,
        )
        shadow_duration = Histogram(
            SHADOW_DURATION_SECONDS,
            "Latency of production and shadow on the same mirrored requests.",
            ["side"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.shadow_compared = shadow_requests.labels(outcome="compared")
        self.shadow_error = shadow_requests.labels(outcome="error")
        self.shadow_dropped = shadow_requests.labels(outcome="dropped")
        self.rows_agree = shadow_rows.labels(agreement="agree")
        self.rows_disagree = shadow_rows.labels(agreement="disagree")
        self.production_seconds = shadow_duration.labels(side="production")
        self.shadow_seconds = shadow_duration.labels(side="shadow")

    def observe(self, backend: str, code: int, seconds: float) -> None:
        self._routed.observe(backend, code, seconds)

    def track_grpc(self, counts: GrpcCounts) -> None:
        """Export the gRPC passthrough's connection counts, read at scrape time."""
        self.registry.register(_GrpcConnections(counts))


class GrpcCounts(Protocol):
    forwarded: int
    refused: int
    open: int


class _GrpcConnections(Collector):
    def __init__(self, counts: GrpcCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        total = CounterMetricFamily(
            GRPC_CONNECTIONS,
            "gRPC connections passed through to stable (forwarded) or refused for want of a pod.",
            labels=["outcome"],
        )
        total.add_metric(["forwarded"], self._counts.forwarded)
        total.add_metric(["refused"], self._counts.refused)
        yield total
        yield GaugeMetricFamily(
            f"{GRPC_CONNECTIONS}_open", "gRPC connections open now.", value=self._counts.open
        )


class _RoutedRequests(Collector):
    """ROUTER_REQUESTS_TOTAL and ROUTER_REQUEST_DURATION_SECONDS as plain integers.

    Every request updates both; prometheus_client's Counter and Histogram take a lock and walk
    every bucket per update, which measured ~9 µs per request here, against ~1 µs for a dict
    update and a bisect. The event loop is single-threaded, so no lock is needed; the scrape
    runs on the same loop and reads a consistent state.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._buckets: dict[str, list[int]] = {}  # per bucket (not cumulative), then +Inf
        self._sums: dict[str, float] = {}

    def observe(self, backend: str, code: int, seconds: float) -> None:
        key = (backend, code)
        self._counts[key] = self._counts.get(key, 0) + 1
        buckets = self._buckets.get(backend)
        if buckets is None:
            buckets = self._buckets[backend] = [0] * (len(LATENCY_BUCKETS) + 1)
            self._sums[backend] = 0.0
        buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._sums[backend] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            ROUTER_REQUESTS_TOTAL.removesuffix(_COUNTER_SUFFIX),
            "Requests the router answered, by backend and status code.",
            labels=["backend", "code"],
        )
        for (backend, code), count in self._counts.items():
            requests.add_metric([backend, str(code)], count)
        duration = HistogramMetricFamily(
            ROUTER_REQUEST_DURATION_SECONDS,
            "Time from receiving a request to answering it, by backend.",
            labels=["backend"],
        )
        for backend, buckets in self._buckets.items():
            bounds = [*(str(b) for b in LATENCY_BUCKETS), "+Inf"]
            duration.add_metric(
                [backend], list(zip(bounds, accumulate(buckets), strict=True)), self._sums[backend]
            )
        yield requests
        yield duration
