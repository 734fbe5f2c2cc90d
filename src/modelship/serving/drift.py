"""Live-input drift against the version's reference profile, as population stability index.

Why PSI: it compares two binned distributions with one number per feature that operators know
how to read (< 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted), and it needs only bin counts,
so memory is bounded and a request costs one row copy.

How:
- Bins are the profile's: k bins from k+1 finite, increasing edges, each bin [e_i, e_i+1), the
  last one closed (numpy.histogram's convention, which the trainer uses). Live values below the
  first edge count in the first bin and values above the last edge in the last one.
- Typed features: a numeric one with a missing share in its profile gets one more bin for NaN,
  so a change in how often a value is missing is drift too (and its rate is reported); a
  categorical one arrives as its bin number (one bin per category, missing and unseen values
  each their own), so the same PSI is computed over category frequencies.
- Requests append rows to a small buffer; the buffer is binned (one searchsorted per feature,
  one bincount for all) when it fills up or a report is asked for.
- Counts are kept in blocks of window_rows / 10 rows, and only the newest ten blocks are
  compared, so the report follows the recent traffic instead of being diluted by hours of old
  traffic.
- PSI_f = sum_i (a_i - e_i) * ln(a_i / e_i), with a_i the live proportion and e_i the reference
  frequency of bin i, both floored at `epsilon` so that an empty bin gives a large but finite
  term instead of infinity. Overall PSI is the mean over features; the maximum is reported too.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_BLOCKS = 10
_BUFFER_ROWS = 256


@dataclass(frozen=True, slots=True)
class FeatureBins:
    """The reference distribution of one feature."""

    name: str
    edges: Sequence[float]
    frequencies: Sequence[float]
    missing: float | None = None
    """Typed numeric features: the training share of missing values. The feature then has one
    more bin, for NaN, and `frequencies` describe the present values."""

    def expected(self) -> list[float]:
        """Reference frequency of every bin, the missing bin last when there is one."""
        if self.missing is None:
            return list(self.frequencies)
        present = 1.0 - self.missing
        return [f * present for f in self.frequencies] + [self.missing]


@dataclass(frozen=True, slots=True)
class DriftReport:
    features: dict[str, float | None]
    """PSI per feature; None until rows have been observed."""
    missing: dict[str, float | None]
    """Share of missing values per typed numeric feature in the window (None before rows)."""
    overall: float | None
    maximum: float | None
    window_rows: int
    observed_rows: int


class DriftMonitor:
    """Bounded-memory per-feature bin counts of live inputs, and their PSI."""

    def __init__(self, bins: Sequence[FeatureBins], *, window_rows: int, epsilon: float) -> None:
        self.names = tuple(feature.name for feature in bins)
        self._edges = [np.asarray(feature.edges, dtype=np.float64) for feature in bins]
        self._present = np.asarray([len(edges) - 1 for edges in self._edges], dtype=np.intp)
        self._with_missing = [feature.missing is not None for feature in bins]
        sizes = [int(n) + m for n, m in zip(self._present, self._with_missing, strict=True)]
        # Every feature's bins live side by side in one flat count vector: one bincount per flush.
        self._offsets = np.cumsum([0, *sizes[:-1]]).astype(np.intp)
        self._sizes = np.asarray(sizes, dtype=np.intp)
        self._total_bins = int(sum(sizes))
        self._expected = np.maximum(
            np.concatenate([np.asarray(f.expected(), dtype=np.float64) for f in bins]), epsilon
        )
        self._epsilon = epsilon
        self._block_rows = max(window_rows // _BLOCKS, 1)
        self._blocks: deque[NDArray[np.int64]] = deque(maxlen=_BLOCKS - 1)
        self._block_counts = np.zeros(self._total_bins, dtype=np.int64)
        self._block_filled = 0
        self._buffer = np.empty((_BUFFER_ROWS, len(bins)), dtype=np.float64)
        self._buffered = 0
        self._observed = 0
        self._lock = threading.Lock()

    def observe(self, rows: NDArray[np.float64]) -> None:
        """Record live rows (n, features) in the model's feature order."""
        with self._lock:
            start = 0
            while start < len(rows):
                take = min(len(rows) - start, _BUFFER_ROWS - self._buffered)
                self._buffer[self._buffered : self._buffered + take] = rows[start : start + take]
                self._buffered += take
                start += take
                if self._buffered == _BUFFER_ROWS:
                    self._flush()
            self._observed += len(rows)

    def report(self) -> DriftReport:
        return self.report_from(*self.state())

    def state(self) -> tuple[NDArray[np.int64], int, int]:
        """(bin counts over the window, rows in the window, rows observed since start)."""
        with self._lock:
            self._flush()
            counts = self._block_counts + sum(self._blocks, np.zeros_like(self._block_counts))
            rows = self._block_filled + len(self._blocks) * self._block_rows
            return counts, rows, self._observed

    def report_from(self, counts: NDArray[np.int64], rows: int, observed: int) -> DriftReport:
        """The report for these counts (this monitor's own, or summed over several workers)."""
        missing_names = [n for n, m in zip(self.names, self._with_missing, strict=True) if m]
        if rows == 0:
            return DriftReport(
                dict.fromkeys(self.names), dict.fromkeys(missing_names), None, None, 0, observed
            )
        actual = np.maximum(counts / rows, self._epsilon)
        terms = (actual - self._expected) * np.log(actual / self._expected)
        per_feature = np.add.reduceat(terms, self._offsets)
        last = self._offsets + self._sizes - 1
        return DriftReport(
            features={name: float(psi) for name, psi in zip(self.names, per_feature, strict=True)},
            missing={
                name: float(counts[last[i]] / rows)
                for i, name in enumerate(self.names)
                if self._with_missing[i]
            },
            overall=float(per_feature.mean()),
            maximum=float(per_feature.max()),
            window_rows=rows,
            observed_rows=observed,
        )

    def _flush(self) -> None:
        """Bin the buffered rows into the current block (caller holds the lock)."""
        pending = self._buffer[: self._buffered]
        self._buffered = 0
        while len(pending):
            take = min(len(pending), self._block_rows - self._block_filled)
            self._block_counts += self._bin(pending[:take])
            self._block_filled += take
            pending = pending[take:]
            if self._block_filled == self._block_rows:
                self._blocks.append(self._block_counts)
                self._block_counts = np.zeros(self._total_bins, dtype=np.int64)
                self._block_filled = 0

    def _bin(self, rows: NDArray[np.float64]) -> NDArray[np.int64]:
        index = np.empty(rows.shape, dtype=np.intp)
        for column, edges in enumerate(self._edges):
            index[:, column] = np.searchsorted(edges, rows[:, column], side="right") - 1
        np.clip(index, 0, self._present - 1, out=index)
        for column, with_missing in enumerate(self._with_missing):
            if with_missing:  # NaN sorts after every edge; it belongs in the missing bin
                index[np.isnan(rows[:, column]), column] = self._present[column]
        index += self._offsets
        return np.bincount(index.ravel(), minlength=self._total_bins).astype(np.int64)
