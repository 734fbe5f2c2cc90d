"""Prediction capture: a sampled share of rows, kept off the request path, written in segments.

The request path does three cheap things: hash each row's id to decide whether it is sampled
(`contracts.capture.sampled`, so replicas agree), copy the sampled rows' inputs and answers, and
append them to a bounded in-memory queue. It never waits for the store and never fails because
of it: when the queue already holds `queue_rows` rows, the new rows are dropped and counted
(`modelship_capture_dropped_rows_total`). One writer thread per process turns queued rows into
records, writes a segment every `flush_seconds` or `segment_rows` rows, and applies retention.
When the store is unreachable, the rows stay queued for the next attempt (still counted against
the bound, so new rows are dropped rather than memory growing) and the failure is counted.
On shutdown `close` writes what is queued, within a deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge

from modelship.catalog.errors import CatalogError
from modelship.catalog.segments import SegmentStore, encode_segment, prune, segment_name
from modelship.contracts.capture import CaptureEnv, sampled
from modelship.serving.capture_records import (
    CapturedBatch,
    Inputs,
    Served,
    iso,
    records_of,
    without_gc,
)
from modelship.serving.runtime import Prediction

log = logging.getLogger(__name__)

_PRUNE_EVERY_SECONDS = 3600.0


class CaptureMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.dropped = Counter(
            "modelship_capture_dropped_rows_total",
            "Sampled rows dropped because the capture queue was full (the store is slow or "
            "unreachable); requests are never held for capture.",
            registry=registry,
        )
        self.written = Counter(
            "modelship_capture_written_rows_total",
            "Captured rows written to the capture store.",
            registry=registry,
        )
        self.failures = Counter(
            "modelship_capture_write_failures_total",
            "Segment writes that failed (the rows stay queued for the next attempt).",
            registry=registry,
        )
        self.queued = Gauge(
            "modelship_capture_queue_rows",
            "Sampled rows waiting for the writer.",
            registry=registry,
            multiprocess_mode="livesum",
        )


class Capture:
    """The capture of one process: `offer` on the request path, a thread that writes."""

    def __init__(
        self,
        settings: CaptureEnv,
        store: SegmentStore,
        metrics: CaptureMetrics,
        *,
        writer: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._store = store
        self._metrics = metrics
        self._writer = writer
        self._clock = clock
        self._excluded = frozenset(settings.exclude)
        self._queue: deque[CapturedBatch] = deque()
        self._queued_rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seq = 0
        self._served: Served | None = None
        self._thread: threading.Thread | None = None
        self._last_prune = float("-inf")

    # --- request path ------------------------------------------------------------------

    def bind(self, served: Served) -> None:
        self._served = served

    def offer(self, ids: Sequence[str], inputs: Inputs, prediction: Prediction) -> list[bool]:
        """Queue the sampled rows of one answered request; which rows were sampled.

        `inputs` is called only when a row is sampled. Everything costly (row dicts, JSON,
        compression, excluded columns) is the writer thread's; this is on the request path.
        """
        rate = self.settings.sample_rate
        mask = [True] * len(ids) if rate >= 1.0 else [sampled(i, rate) for i in ids]
        picked = len(ids) if rate >= 1.0 else sum(mask)
        if not picked:
            return mask
        if picked > self.settings.queue_rows - self._queued_rows:
            self._metrics.dropped.inc(picked)
            return [False] * len(mask)
        found = inputs()
        batch = CapturedBatch(self._clock(), ids, found, prediction.labels, prediction.proba)
        if picked < len(ids):
            index = np.flatnonzero(mask)
            batch.ids = [ids[int(i)] for i in index]
            batch.inputs = (
                {name: values[index] for name, values in found.items()}
                if isinstance(found, dict)
                else (found[0], found[1][index])
            )
            batch.labels = prediction.labels[index]
            batch.proba = None if prediction.proba is None else prediction.proba[index]
        with self._lock:
            self._queue.append(batch)
            self._queued_rows += picked
            full = self._queued_rows >= self.settings.segment_rows
        if full:
            self._wake.set()
        return mask

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    # --- writer ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the writer and write what is queued (one attempt, within `timeout`)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.flush_seconds)
            self._wake.clear()
            self.flush()
            self._maybe_prune()
        self.flush()

    def flush(self) -> int:
        """Write every queued row in segments of at most `segment_rows`; rows written."""
        written = 0
        while True:
            with self._lock:
                taken = self._take(self.settings.segment_rows)
            if not taken:
                self._metrics.queued.set(self._queued_rows)
                return written
            rows = sum(len(b) for b in taken)
            try:
                self._write(taken)
            except CatalogError as error:
                log.warning("capture: segment of %d rows not written: %s", rows, error)
                self._metrics.failures.inc()
                with self._lock:  # back to the front, still counted against the bound
                    self._queue.extendleft(reversed(taken))
                self._metrics.queued.set(self._queued_rows)
                return written
            except Exception:
                # A bug (rows the encoder cannot render): retrying would fail forever and stop
                # every later row, so these rows are dropped, counted, and the writer goes on.
                log.exception("capture: %d rows dropped: cannot write them", rows)
                self._metrics.failures.inc()
                self._metrics.dropped.inc(rows)
                with self._lock:
                    self._queued_rows -= rows
                continue
            with self._lock:
                self._queued_rows -= rows
            self._metrics.written.inc(rows)
            written += rows

    def _take(self, limit: int) -> list[CapturedBatch]:
        """Whole batches from the front up to `limit` rows (at least one batch)."""
        taken: list[CapturedBatch] = []
        rows = 0
        while self._queue and (not taken or rows + len(self._queue[0]) <= limit):
            batch = self._queue.popleft()
            taken.append(batch)
            rows += len(batch)
        return taken

    def _write(self, batches: list[CapturedBatch]) -> None:
        served = self._served
        if served is None:
            raise CatalogError("capture: no version bound yet")
        records = without_gc(lambda: records_of(batches, served, self._excluded))
        self._seq += 1
        name = segment_name(
            "captures", self._writer, self._seq, datetime.fromtimestamp(self._clock(), UTC)
        )
        annotations = {
            "io.modelship.model": served.model,
            "io.modelship.version": str(served.version),
            "io.modelship.rows": str(len(records)),
            "io.modelship.from": iso(batches[0].ts),
            "io.modelship.to": iso(batches[-1].ts),
        }
        self._store.write(name, encode_segment(records), annotations)

    def _maybe_prune(self) -> None:
        now = self._clock()
        if now - self._last_prune < _PRUNE_EVERY_SECONDS:
            return
        self._last_prune = now
        cutoff = datetime.fromtimestamp(now, UTC) - timedelta(days=self.settings.retention_days)
        try:
            for kind in ("captures", "labels"):
                removed = prune(self._store, kind, cutoff)
                if removed:
                    log.info("capture: retention removed %d %s segments", removed, kind)
        except CatalogError as error:
            log.warning("capture: retention not applied: %s", error)
