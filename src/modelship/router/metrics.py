"""The router's Prometheus series, in a registry it is given (no globals).

Names come from `modelship.contracts.serving_metrics`: the operator reads the shadow series
back into `status.test.shadow`. Label children are cached, because `.labels()` costs a dict
build and a lock per call, which at router request rates is a visible share of its budget.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from modelship.contracts.serving_metrics import (
    ROUTER_REQUEST_DURATION_SECONDS,
    ROUTER_REQUESTS_TOTAL,
    SHADOW_DURATION_SECONDS,
    SHADOW_REQUESTS_TOTAL,
    SHADOW_ROWS_TOTAL,
)

IN_FLIGHT = "modelship_router_in_flight_requests"
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

_COUNTER_SUFFIX = "_total"  # prometheus_client appends it to a Counter's name


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._requests = Counter(
            ROUTER_REQUESTS_TOTAL.removesuffix(_COUNTER_SUFFIX),
            "Requests the router answered, by backend and status code.",
            ["backend", "code"],
            registry=registry,
        )
        self._duration = Histogram(
            ROUTER_REQUEST_DURATION_SECONDS,
            "Time from receiving a request to answering it, by backend.",
            ["backend"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
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
        self._request_children: dict[tuple[str, int], Counter] = {}
        self._duration_children: dict[str, Histogram] = {}

    def observe(self, backend: str, code: int, seconds: float) -> None:
        key = (backend, code)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._requests.labels(backend=backend, code=str(code))
            self._request_children[key] = counter
        counter.inc()
        histogram = self._duration_children.get(backend)
        if histogram is None:
            histogram = self._duration.labels(backend=backend)
            self._duration_children[backend] = histogram
        histogram.observe(seconds)
