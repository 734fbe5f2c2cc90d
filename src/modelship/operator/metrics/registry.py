"""Every metric the operator exports, bound to one injected `CollectorRegistry`.

Why a class and no module-level metrics: the registry lives in Kopf's memo (one per process, made
at startup), so tests build as many operators' metrics as they like in one process. Labels stay
low-cardinality: `kind`, `trigger`, `outcome`, `reason`, `phase` are small closed sets; `namespace`
and `name` appear only on the per-object gauges a user graphs one model or Deployment by.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from modelship.operator.metrics.batch_metrics import BatchMetrics
from modelship.operator.metrics.deployment_metrics import DeploymentMetrics
from modelship.operator.metrics.model_metrics import ModelMetrics

_RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ReconcileMetrics:
    """Whether this replica leads, and what each reconcile cost."""

    def __init__(self, registry: CollectorRegistry, leads: Callable[[], bool]) -> None:
        leader = Gauge(
            "modelship_operator_leader",
            "1 while this instance holds the leader Lease (or runs without election), else 0.",
            registry=registry,
        )
        leader.set_function(lambda: 1.0 if leads() else 0.0)
        self.reconciles = Counter(
            "modelship_operator_reconciles_total",
            "Reconciles, by kind.",
            ["kind"],
            registry=registry,
        )
        self.reconcile_errors = Counter(
            "modelship_operator_reconcile_errors_total",
            "Reconciles that raised (Kopf or the daemon retries them), by kind.",
            ["kind"],
            registry=registry,
        )
        self.reconcile_seconds = Histogram(
            "modelship_operator_reconcile_duration_seconds",
            "Time one reconcile took, API calls included, by kind.",
            ["kind"],
            buckets=_RECONCILE_BUCKETS,
            registry=registry,
        )

    @contextmanager
    def reconcile(self, kind: str) -> Iterator[None]:
        """Count and time one reconcile of `kind`; an exception counts as an error and goes on."""
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            self.reconcile_errors.labels(kind).inc()
            raise
        finally:
            self.reconciles.labels(kind).inc()
            self.reconcile_seconds.labels(kind).observe(time.perf_counter() - start)


class OperatorMetrics(ReconcileMetrics, ModelMetrics, DeploymentMetrics, BatchMetrics):
    """The operator's metrics and the few ways controllers record into them: one object in
    Kopf's memo, made of the families above."""

    def __init__(self, registry: CollectorRegistry, leads: Callable[[], bool]) -> None:
        self.registry = registry
        ReconcileMetrics.__init__(self, registry, leads)
        ModelMetrics.__init__(self, registry)
        DeploymentMetrics.__init__(self, registry)
        BatchMetrics.__init__(self, registry)
