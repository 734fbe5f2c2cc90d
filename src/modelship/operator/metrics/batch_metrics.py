"""The BatchPrediction's metrics (see registry.py for why a class): rows and run durations."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from modelship.api.v1alpha1 import BatchPredictionStatus
from modelship.operator.metrics.transitions import seconds_between

_RUN_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)


class BatchMetrics:
    """Recorded where the BatchPrediction controller writes a status that finishes a run."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_runs = Counter(
            "modelship_batchpredictions_finished_total",
            "BatchPredictions that finished, per Model, by outcome (Succeeded, Failed).",
            ["namespace", "model", "outcome"],
            registry=registry,
        )
        self.batch_rows = Counter(
            "modelship_batch_rows_scored_total",
            "Rows BatchPredictions scored, per Model (unscorable rows not included).",
            ["namespace", "model"],
            registry=registry,
        )
        self.batch_error_rows = Counter(
            "modelship_batch_rows_failed_total",
            "Rows BatchPredictions could not score, per Model.",
            ["namespace", "model"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "modelship_batch_run_duration_seconds",
            "From a BatchPrediction's start to its end, by outcome.",
            ["outcome"],
            buckets=_RUN_BUCKETS,
            registry=registry,
        )

    def batch_written(
        self, namespace: str, model: str, old: BatchPredictionStatus, new: BatchPredictionStatus
    ) -> None:
        """Count a run once, on the write that moved it to Succeeded or Failed."""
        if new.phase not in ("Succeeded", "Failed") or old.phase == new.phase:
            return
        self.batch_runs.labels(namespace, model, new.phase).inc()
        if new.output is not None:
            self.batch_rows.labels(namespace, model).inc(new.output.rows)
            self.batch_error_rows.labels(namespace, model).inc(new.output.error_rows)
        seconds = seconds_between(new.start_time, new.completion_time)
        if seconds is not None:
            self.batch_seconds.labels(new.phase).observe(seconds)
