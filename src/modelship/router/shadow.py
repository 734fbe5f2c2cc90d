"""Mirroring a share of inference requests to the shadow backend, after the caller's answer.

The proxy offers a job once production has answered; a full queue drops it (and counts it)
rather than wait, and a few workers send the jobs to the shadow's pods over the same connection
pools, then compare the answers (compare.py) into the shadow series. Nothing here can delay or
fail a caller's request: the caller has its answer before the job exists.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import pydantic_core

from modelship.contracts import raw_tensors
from modelship.contracts.serving_metrics import SHADOW_TOLERANCE
from modelship.router.compare import IncomparableError, compare
from modelship.router.metrics import RouterMetrics
from modelship.router.routes import Backend
from modelship.router.upstream import Upstream, UpstreamError

log = logging.getLogger(__name__)

# /v2/models/{name}/versions/{v}/infer names production's version, which the shadow does not
# serve; the unversioned route reaches whatever version the shadow serves.
_RAW_HEADER = raw_tensors.HEADER.encode()
_VERSIONED = re.compile(rb"^(/v2/models/[^/]+)/versions/[^/]+(/infer)$")


def is_inference(path: bytes) -> bool:
    """The routes that carry predictions (INFERENCE_ROUTES of the server: infer, v1_predict)."""
    return (path.startswith(b"/v2/models/") and path.endswith(b"/infer")) or (
        path.startswith(b"/v1/models/") and path.endswith(b":predict")
    )


def shadow_target(path: bytes) -> bytes:
    return _VERSIONED.sub(rb"\1\2", path)


def header_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The JSON header's length of an answer with raw outputs (Triton's binary extension)."""
    for name, value in headers:
        if name == _RAW_HEADER:
            return int(value) if value.isdigit() else -1  # -1: inline_outputs refuses it
    return None


def answer_document(body: bytes, header: int | None) -> Any:
    """An inference answer as its JSON document, raw outputs read back into their `data`."""
    if header is None:
        return pydantic_core.from_json(body)
    return raw_tensors.inline_outputs(body, header)


@dataclass(slots=True)
class ShadowJob:
    backend: Backend
    method: bytes
    target: bytes  # path and query
    headers: bytes  # header lines, CRLF-terminated, without Content-Length
    body: bytes
    production_body: bytes
    production_header_length: int | None  # raw outputs follow a JSON header this long
    production_seconds: float


class ShadowMirror:
    def __init__(
        self,
        upstream: Upstream,
        metrics: RouterMetrics,
        *,
        queue_size: int,
        workers: int,
        timeout: float,
    ) -> None:
        self._upstream = upstream
        self._metrics = metrics
        self._queue: asyncio.Queue[ShadowJob] = asyncio.Queue(queue_size)
        self._workers = workers
        self._timeout = timeout
        self._tasks: list[asyncio.Task[None]] = []

    def offer(self, job: ShadowJob) -> None:
        """Queue `job`, or drop it at once when the queue is full."""
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self._metrics.shadow_dropped.inc()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._mirror(job)
            except Exception:  # a bug here must not stop the worker
                log.exception("shadow comparison failed")
                self._metrics.shadow_error.inc()
            finally:
                self._queue.task_done()

    async def _mirror(self, job: ShadowJob) -> None:
        endpoint = job.backend.endpoint()
        if endpoint is None:
            self._metrics.shadow_error.inc()
            return
        head = b"%s %s HTTP/1.1\r\n%scontent-length: %d\r\n\r\n" % (
            job.method,
            job.target,
            job.headers,
            len(job.body),
        )
        started = time.perf_counter()
        try:
            response = await self._upstream.request(endpoint, head, job.body, self._timeout)
        except UpstreamError as error:
            log.debug("shadow request failed: %s", error)
            self._metrics.shadow_error.inc()
            return
        seconds = time.perf_counter() - started
        if response.status != 200:
            self._metrics.shadow_error.inc()
            return
        try:
            agree, disagree = compare(
                answer_document(job.production_body, job.production_header_length),
                answer_document(response.body, header_length(response.headers)),
                SHADOW_TOLERANCE,
            )
        except (ValueError, IncomparableError) as error:
            log.debug("shadow answer not comparable: %s", error)
            self._metrics.shadow_error.inc()
            return
        self._metrics.shadow_compared.inc()
        self._metrics.rows_agree.inc(agree)
        self._metrics.rows_disagree.inc(disagree)
        self._metrics.production_seconds.observe(job.production_seconds)
        self._metrics.shadow_seconds.observe(seconds)

    async def drain(self) -> None:
        """Wait until every queued job is done (tests)."""
        await self._queue.join()
