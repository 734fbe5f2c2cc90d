"""Metric updates of a worker, kept in the process and written to the shared files in bulk.

With workers (workers.py) prometheus_client runs in multiprocess mode: every update takes its
lock and writes the new value into the worker's memory-mapped file, about nine per inference
request (request counter, latency bucket and sum, rows, batch size bucket and sum, class
counter, in-flight up and down), which cost 10-20 % of a linear model's CPU per request. Here an
update adds to a plain number in the worker instead, and `flush` writes what accumulated: one
write per counter that moved, per histogram bucket that moved and its sum, per gauge that
changed.

The data plane flushes every `FLUSH_SECONDS`, every scrape of this worker flushes first
(`FlushOnScrape`, registered ahead of the multiprocess collector), and the worker flushes when
it stops: in the lifespan shutdown that SIGTERM leads to, and at interpreter exit. Counters are
therefore never lost when a worker exits normally, a scrape of this worker is exact, and the
other workers' figures in it lag by at most `FLUSH_SECONDS` (a SIGKILL loses at most that).

Every update and flush runs on the worker's event loop thread (request handlers, the batcher's
completion, the flusher task, the /metrics endpoint) or after the loop has ended (atexit); the
lock only keeps an exit-time flush from interleaving with a late one.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

FLUSH_SECONDS = 0.1


class BufferedCounter:
    """A counter child's increments, summed until the next flush."""

    __slots__ = ("_child", "_pending")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._pending = 0.0

    def inc(self, amount: float = 1) -> None:
        self._pending += amount

    def flush(self) -> None:
        if self._pending:
            amount, self._pending = self._pending, 0.0
            self._child.inc(amount)


class BufferedHistogram:
    """A histogram child's observations as per-bucket counts and a sum until the next flush.

    The flush adds them to the child's bucket and sum values (prometheus_client's `_buckets`,
    `_sum` and `_upper_bounds`, the attributes its own `observe` updates); a value goes to the
    first bucket whose upper bound is at least the value, as `observe` does.
    """

    __slots__ = ("_bounds", "_child", "_counts", "_sum")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._bounds: list[float] = list(child._upper_bounds)
        if len(child._buckets) != len(self._bounds):
            raise TypeError("prometheus_client histogram without one value per bucket")
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0

    def observe(self, amount: float) -> None:
        self._counts[bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def flush(self) -> None:
        counts = self._counts
        if not any(counts):
            return
        self._counts = [0] * len(counts)
        total, self._sum = self._sum, 0.0
        for bucket, count in zip(self._child._buckets, counts, strict=True):
            if count:
                bucket.inc(count)
        self._child._sum.inc(total)


class BufferedGauge:
    """A gauge moved up and down in the worker; the flush writes its value when it changed."""

    __slots__ = ("_child", "_value", "_written")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._value = 0.0
        self._written = 0.0

    def inc(self, amount: float = 1) -> None:
        self._value += amount

    def dec(self, amount: float = 1) -> None:
        self._value -= amount

    def flush(self) -> None:
        if self._value != self._written:
            self._written = self._value
            self._child.set(self._value)


class MetricBuffer:
    """Every buffered child of one worker's metrics, flushed together."""

    def __init__(self) -> None:
        self._children: list[BufferedCounter | BufferedHistogram | BufferedGauge] = []
        self._lock = threading.Lock()

    def counter(self, child: Any) -> BufferedCounter:
        buffered = BufferedCounter(child)
        self._children.append(buffered)
        return buffered

    def histogram(self, child: Any) -> BufferedHistogram:
        buffered = BufferedHistogram(child)
        self._children.append(buffered)
        return buffered

    def gauge(self, child: Any) -> BufferedGauge:
        buffered = BufferedGauge(child)
        self._children.append(buffered)
        return buffered

    def flush(self) -> None:
        with self._lock:
            for child in self._children:
                child.flush()


class FlushOnScrape(Collector):
    """Registered first in the exposition registry: a scrape writes this worker's buffer to its
    file before the multiprocess collector reads the files. It exports nothing itself."""

    def __init__(self, buffer: MetricBuffer) -> None:
        self._buffer = buffer

    def collect(self) -> Iterable[Metric]:
        self._buffer.flush()
        return []

    def describe(self) -> Iterable[Metric]:
        return []
