"""Listing a labelled metric's series for one object, so a deleted object leaves none behind."""

from __future__ import annotations

from prometheus_client import Gauge


def series_of(gauge: Gauge, namespace: str, name: str) -> list[tuple[str, ...]]:
    """Label values of the object's series, in the gauge's label order.

    prometheus_client keeps no public index of a metric's children; collecting is the public way
    to list them. Every per-object gauge here has `namespace` and `name` as its first labels, and
    a sample's labels keep the order they were declared in.
    """
    found: list[tuple[str, ...]] = []
    for metric in gauge.collect():
        for sample in metric.samples:
            labels = sample.labels
            if labels.get("namespace") == namespace and labels.get("name") == name:
                key = tuple(labels.values())
                if key not in found:
                    found.append(key)
    return found


def clear_object(gauge: Gauge, namespace: str, name: str) -> None:
    """Remove every series of the object, whatever its other labels (on deletion only)."""
    for labels in series_of(gauge, namespace, name):
        gauge.remove(*labels)
