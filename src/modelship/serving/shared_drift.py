"""Drift over the traffic of every worker of a pod, not just the one a report request reached.

Each worker keeps its own `DriftMonitor` (no lock shared between processes on the request path)
and publishes its window's bin counts to the workers' shared directory every 256 rows and at
least once a second (the data plane's publisher); a report adds the other workers' last
published counts to this worker's current ones. The pod's window is therefore the sum of its
workers' windows, and a report lags the other workers' traffic by at most a second.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from modelship.serving.drift import DriftMonitor, DriftReport, FeatureBins

_PUBLISH_EVERY_ROWS = 256


class SharedDriftMonitor(DriftMonitor):
    def __init__(
        self, bins: Sequence[FeatureBins], *, window_rows: int, epsilon: float, directory: Path
    ) -> None:
        super().__init__(bins, window_rows=window_rows, epsilon=epsilon)
        self._directory = directory
        self._file = directory / f"drift-{os.getpid()}.npy"
        self._unpublished = 0

    def observe(self, rows: NDArray[np.float64]) -> None:
        super().observe(rows)
        self._unpublished += len(rows)
        if self._unpublished >= _PUBLISH_EVERY_ROWS:
            self.publish()

    def publish(self) -> None:
        """Write this worker's window (atomically: readers see the old file or the new one)."""
        if not self._unpublished:
            return
        self._unpublished = 0
        counts, rows, observed = self.state()
        temporary = self._file.with_suffix(".tmp.npy")
        np.save(temporary, np.concatenate([counts, [rows, observed]]))
        os.replace(temporary, self._file)

    def report(self) -> DriftReport:
        counts, rows, observed = self.state()
        for path in self._directory.glob("drift-*.npy"):
            if path == self._file or path.name.endswith(".tmp.npy"):
                continue
            try:
                theirs = np.load(path)
            except (OSError, ValueError):
                continue  # a worker that is just writing its first file
            counts = counts + theirs[:-2]
            rows += int(theirs[-2])
            observed += int(theirs[-1])
        return self.report_from(counts, rows, observed)
