"""Per-object gauges: the exposition of prometheus_client's Gauge at a dict entry per object."""

from __future__ import annotations

import tracemalloc

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from modelship.api.v1alpha1 import DeploymentStatus, ModelStatus
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.metrics.object_gauges import ObjectGauge, OneOfGauge
from modelship.operator.metrics.transitions import PHASES


def exposition(registry: CollectorRegistry) -> list[str]:
    return sorted(generate_latest(registry).decode().splitlines())


def test_the_exposition_is_a_labelled_gauges() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    labels = ["namespace", "name", "stage"]
    gauge = ObjectGauge("x_version", "The version.", labels, ours)
    reference = Gauge("x_version", "The version.", labels, registry=theirs)
    for g in (gauge, reference):
        g.labels("ml", "iris", "test").set(3)
        g.labels("ml", "iris", "production").set(2)
        g.labels("ml", "wine", "test").set(1)
        g.remove("ml", "iris", "test")
    assert exposition(ours) == exposition(theirs)


def test_the_phase_gauge_exports_a_one_and_zeros_as_one_series_per_phase_did() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    gauge = OneOfGauge("x_phase", "The phase.", "phase", PHASES, ours)
    reference = Gauge("x_phase", "The phase.", ["namespace", "name", "phase"], registry=theirs)
    for name, phase in (("iris", "Serving"), ("wine", None), ("iris", "Promoting")):
        gauge.choose("ml", name, phase)
        for choice in PHASES:
            reference.labels("ml", name, choice).set(1 if choice == phase else 0)
    assert exposition(ours) == exposition(theirs)
    gauge.clear_object("ml", "iris")
    assert not any('name="iris"' in line for line in exposition(ours))
    assert any('name="wine"' in line for line in exposition(ours))


def test_clearing_an_object_removes_its_series_whatever_the_other_labels() -> None:
    registry = CollectorRegistry()
    gauge = ObjectGauge("x_psi", "Drift.", ["namespace", "name", "aggregate"], registry)
    gauge.labels("ml", "iris", "mean").set(0.1)
    gauge.labels("ml", "iris", "max").set(0.4)
    gauge.labels("other", "iris", "max").set(0.2)
    gauge.clear_object("ml", "iris")
    assert (
        registry.get_sample_value("x_psi", {"namespace": "ml", "name": "iris", "aggregate": "max"})
        is None
    )
    assert (
        registry.get_sample_value(
            "x_psi", {"namespace": "other", "name": "iris", "aggregate": "max"}
        )
        == 0.2
    )


def test_labels_are_checked() -> None:
    registry = CollectorRegistry()
    with pytest.raises(ValueError, match="namespace, name first"):
        ObjectGauge("x_bad", "Bad.", ["name", "namespace"], registry)
    gauge = ObjectGauge("x_rows", "Rows.", ["namespace", "name"], registry)
    with pytest.raises(ValueError, match="x_rows: labels"):
        gauge.labels("ml")


def test_an_idle_model_and_deployment_cost_the_metrics_under_a_kilobyte() -> None:
    """10,000 idle pairs cost ~58 MB as prometheus_client children (5.8 KB a pair: six phase
    series, rolled-back, drift-open, each ~800 bytes); a dict entry each, ~0.4 KB."""
    metrics = OperatorMetrics(CollectorRegistry(), lambda: True)
    pending = DeploymentStatus.model_validate({"phase": "Pending"})
    failed = ModelStatus.model_validate({"phase": "Failed"})
    names = [f"m{i:05d}" for i in range(2000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for name in names:
            metrics.deployment_written("idle", name, DeploymentStatus(), pending)
            metrics.model_written("idle", name, ModelStatus(), failed)
        per_pair = (tracemalloc.get_traced_memory()[0] - before) / len(names)
    finally:
        tracemalloc.stop()
    assert per_pair < 1024, f"{per_pair:.0f} bytes of metrics per idle Model and Deployment"
