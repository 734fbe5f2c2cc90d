"""Per-object gauges kept as one dict entry per series, not one prometheus_client child each.

Why: a labelled `Gauge` keeps a child object per series (its own lock and value, ~800 bytes),
and the phase gauge has a series per phase, 1 for the current one and 0 for the others: with
10,000 Deployments and Models idle that was ~58 MB of the operator's memory. Here a value is a
float in a dict, and the phase gauge keeps only the current phase of each object, exporting the
0s when scraped. The exposition (names, help, labels, values) is what the `Gauge`s exported;
`clear_object` forgets an object's series in one pass over one dict.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class _Series:
    """What `gauge.labels(...)` returns: enough of a child to `.set()` it."""

    __slots__ = ("_gauge", "_labels")

    def __init__(self, gauge: ObjectGauge, labels: tuple[str, ...]) -> None:
        self._gauge, self._labels = gauge, labels

    def set(self, value: float) -> None:
        self._gauge.put(self._labels, float(value))


class ObjectGauge(Collector):
    """A gauge whose first two labels are `namespace` and `name` (as prometheus_client's
    `Gauge`: `labels(*values).set(v)`, `remove(*values)`)."""

    def __init__(
        self, name: str, documentation: str, labels: list[str], registry: CollectorRegistry
    ) -> None:
        if labels[:2] != ["namespace", "name"]:
            raise ValueError(f"{name}: an object's gauge is labelled namespace, name first")
        self.name, self.documentation, self.label_names = name, documentation, labels
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def labels(self, *values: str) -> _Series:
        if len(values) != len(self.label_names):
            raise ValueError(f"{self.name}: labels {self.label_names}, got {values!r}")
        return _Series(self, tuple(str(v) for v in values))

    def put(self, labels: tuple[str, ...], value: float) -> None:
        with self._lock:
            self._values[labels] = value

    def remove(self, *values: str) -> None:
        with self._lock:
            self._values.pop(tuple(values), None)

    def clear_object(self, namespace: str, name: str) -> None:
        """Remove every series of the object, whatever its other labels."""
        with self._lock:
            for key in [k for k in self._values if k[0] == namespace and k[1] == name]:
                del self._values[key]

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.name, self.documentation, labels=self.label_names)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.label_names)
        with self._lock:
            values = list(self._values.items())
        for labels, value in values:
            family.add_metric(list(labels), value)
        yield family


class OneOfGauge(ObjectGauge):
    """1 for the one value of `label` an object is in, 0 for each of the others (`choices`):
    one entry per object, the zeros made when scraped."""

    def __init__(
        self,
        name: str,
        documentation: str,
        label: str,
        choices: tuple[str, ...],
        registry: CollectorRegistry,
    ) -> None:
        self.label, self.choices = label, choices
        self._current: dict[tuple[str, str], str] = {}
        super().__init__(name, documentation, ["namespace", "name", label], registry)

    def choose(self, namespace: str, name: str, choice: str | None) -> None:
        """The object is in `choice` (None or a value not in `choices`: 0 for every choice)."""
        with self._lock:
            self._current[(namespace, name)] = choice or ""

    def clear_object(self, namespace: str, name: str) -> None:
        with self._lock:
            self._current.pop((namespace, name), None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.label_names)
        with self._lock:
            current = list(self._current.items())
        for (namespace, name), chosen in current:
            for choice in self.choices:
                family.add_metric([namespace, name, choice], 1.0 if choice == chosen else 0.0)
        yield family
