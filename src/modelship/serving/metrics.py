"""Prometheus metrics of one app, in a registry the app owns.

Each app gets its own CollectorRegistry (injected, or a fresh one) so tests and benchmarks can
build many apps in one process without duplicate-timeseries errors. Labels are low-cardinality
by construction: routes by name (never the raw path), status codes, class labels of the served
model, feature names of the served model. Label children on hot paths are resolved once and
cached, because `labels()` takes a lock and builds a tuple on every call.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from modelship.contracts.serving_metrics import (
    IN_FLIGHT_REQUESTS,
    PREDICTION_VALUE,
    PREDICTIONS_TOTAL,
    REQUEST_DURATION_SECONDS,
    REQUESTS_TOTAL,
)
from modelship.serving.drift import DriftMonitor
from modelship.serving.metric_buffer import FlushOnScrape, MetricBuffer

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServingMetrics:
    """Every metric the server exports, bound to one registry.

    With workers (`shared_dir`, see workers.py), prometheus_client runs in multiprocess mode:
    values live in files of that directory, and /metrics exposes `exposition`, which reads all
    workers' files, instead of this worker's registry. The gauges say how workers combine.
    There, the updates of the request path go through `buffer` (metric_buffer.py) rather than
    to the files one by one; `flush` writes them.
    """

    def __init__(self, registry: CollectorRegistry, shared_dir: str | None = None) -> None:
        self.registry = registry
        self.exposition = registry
        self.buffer: MetricBuffer | None = None
        if shared_dir is not None:
            self.exposition = CollectorRegistry()
            self.buffer = MetricBuffer()
            # Registered first: a scrape writes this worker's updates before the files are read.
            self.exposition.register(FlushOnScrape(self.buffer))
            MultiProcessCollector(self.exposition, path=shared_dir)  # type: ignore[no-untyped-call]
            atexit.register(self.buffer.flush)
        self.requests = Counter(
            REQUESTS_TOTAL,
            "HTTP requests by route name, method and status code.",
            ["route", "method", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            REQUEST_DURATION_SECONDS,
            "Time from request start to the end of the response, by route name.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.rows = Counter(
            "modelship_inference_rows_total",
            "Rows predicted (a request may carry many).",
            registry=registry,
        )
        self.batch_rows = Histogram(
            "modelship_inference_batch_rows",
            "Rows per call into the model (batched requests share one call).",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.ready = Gauge(
            "modelship_model_ready",
            "1 when the artifact digest is verified and the model loaded, else 0.",
            registry=registry,
            multiprocess_mode="livemin",  # ready when every live worker is
        )
        self.info = Gauge(
            "modelship_model_info",
            "The served version (value is always 1).",
            ["model", "namespace", "version", "digest", "stage", "engine"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.in_flight = Gauge(
            IN_FLIGHT_REQUESTS,
            "Inference requests being served now; beyond the limit requests are shed with 503.",
            registry=registry,
            multiprocess_mode="livesum",  # the pod's concurrency: what autoscaling reads
        )
        self.rpcs = Counter(
            "modelship_grpc_requests_total",
            "gRPC calls by method and status code.",
            ["method", "code"],
            registry=registry,
        )
        self.rpc_latency = Histogram(
            "modelship_grpc_request_duration_seconds",
            "Time from a gRPC call's start to its answer, by method.",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.unknown_categories = Counter(
            "modelship_unknown_categories_total",
            "Values of a categorical feature outside its vocabulary (onUnknown: ignore), by "
            "feature.",
            ["feature"],
            registry=registry,
        )
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._rpc_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._latency_children: dict[str, Any] = {}
        self._unknown_children: dict[str, Any] = {}
        self._class_children: list[Any] = []
        self._value_histogram: Any = None
        # What the request path updates: the children themselves, or their buffered stand-ins.
        self._rows = self._counter(self.rows)
        self._batch_rows = self._histogram(self.batch_rows)
        self._in_flight = (
            self.in_flight if self.buffer is None else self.buffer.gauge(self.in_flight)
        )

    def _counter(self, child: Any) -> Any:
        return child if self.buffer is None else self.buffer.counter(child)

    def _histogram(self, child: Any) -> Any:
        return child if self.buffer is None else self.buffer.histogram(child)

    def flush(self) -> None:
        """Write buffered updates to the shared files (nothing to do without workers)."""
        if self.buffer is not None:
            self.buffer.flush()

    def request_started(self) -> None:
        self._in_flight.inc()

    def request_finished(self) -> None:
        self._in_flight.dec()

    def observe_batch(self, rows: int) -> None:
        """Rows in one call into the model."""
        self._batch_rows.observe(rows)

    def observe_request(self, route: str, method: str, code: int, seconds: float) -> None:
        key = (route, method, code)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self._counter(
                self.requests.labels(route, method, str(code))
            )
        child.inc()
        latency = self._latency_children.get(route)
        if latency is None:
            latency = self._latency_children[route] = self._histogram(self.latency.labels(route))
        latency.observe(seconds)

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        children = self._rpc_children.get((method, code))
        if children is None:
            children = self._rpc_children[(method, code)] = (
                self._counter(self.rpcs.labels(method, code)),
                self._histogram(self.rpc_latency.labels(method)),
            )
        children[0].inc()
        children[1].observe(seconds)

    def model_loaded(
        self,
        labels: dict[str, str],
        classes: Sequence[Any] | None,
        value_buckets: Sequence[float],
        drift: DriftMonitor,
    ) -> None:
        """Publish what is being served and create the metrics that depend on the model."""
        self.info.labels(**labels).set(1)
        if classes is not None:
            counter = Counter(
                PREDICTIONS_TOTAL,
                "Predicted rows by predicted class.",
                ["class_label"],
                registry=self.registry,
            )
            self._class_children = [self._counter(counter.labels(str(label))) for label in classes]
        else:
            self._value_histogram = self._histogram(
                Histogram(
                    PREDICTION_VALUE,
                    "Distribution of predicted values (buckets from the held-out predictions).",
                    buckets=tuple(value_buckets) or Histogram.DEFAULT_BUCKETS,
                    registry=self.registry,
                )
            )
        self.exposition.register(DriftCollector(drift))
        self.ready.set(1)

    def observe_unknown(self, counts: dict[str, int]) -> None:
        for feature, count in counts.items():
            if count:
                child = self._unknown_children.get(feature)
                if child is None:
                    child = self._unknown_children[feature] = self._counter(
                        self.unknown_categories.labels(feature)
                    )
                child.inc(count)

    def observe_predictions(
        self, rows: int, class_index: NDArray[np.intp] | None, values: NDArray[Any]
    ) -> None:
        self._rows.inc(rows)
        if class_index is not None:
            if rows == 1:
                self._class_children[int(class_index[0])].inc()
                return
            counts = np.bincount(class_index, minlength=len(self._class_children))
            for child, count in zip(self._class_children, counts.tolist(), strict=True):
                if count:
                    child.inc(count)
        elif self._value_histogram is not None:
            for value in values.tolist():
                self._value_histogram.observe(value)


class DriftCollector(Collector):
    """Reads the drift monitor at scrape time, so gauges are always as fresh as the scrape."""

    def __init__(self, monitor: DriftMonitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterable[Metric]:
        report = self._monitor.report()
        per_feature = GaugeMetricFamily(
            "modelship_drift_psi",
            "Population stability index of live inputs against the reference profile, by feature"
            " (NaN before any row is observed).",
            labels=["feature"],
        )
        for name, psi in report.features.items():
            per_feature.add_metric([name], _or_nan(psi))
        yield per_feature
        if report.missing:
            missing = GaugeMetricFamily(
                "modelship_drift_missing_rate",
                "Share of missing values in the drift window, by typed numeric feature (NaN "
                "before any row is observed).",
                labels=["feature"],
            )
            for name, rate in report.missing.items():
                missing.add_metric([name], _or_nan(rate))
            yield missing
        yield GaugeMetricFamily(
            "modelship_drift_psi_overall",
            "Mean PSI over all features.",
            value=_or_nan(report.overall),
        )
        yield GaugeMetricFamily(
            "modelship_drift_window_rows",
            "Live rows the drift figures are computed over.",
            value=report.window_rows,
        )
        yield GaugeMetricFamily(
            "modelship_drift_observed_rows",
            "Live rows seen by the drift monitor since start (a gauge: resets with the process).",
            value=report.observed_rows,
        )

    def describe(self) -> Iterable[Metric]:
        # Describing without collecting keeps registration from binning anything.
        return []


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value
