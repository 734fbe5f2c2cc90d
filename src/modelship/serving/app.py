"""`create_app`: the one place where settings, registry, data plane and endpoints are wired.

Everything the app needs is passed in or created here, so tests build as many independent apps
as they like (each with its own CollectorRegistry) and nothing is read from the environment.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException

from modelship.catalog.segments import (
    SegmentStore,
    default_store_uri,
    open_segment_store,
    writer_id,
)
from modelship.serving.capture import Capture, CaptureMetrics
from modelship.serving.dataplane import DataPlane, Loader
from modelship.serving.endpoints import JSON, mount
from modelship.serving.errors import ModelshipServingError
from modelship.serving.feedback import Feedback, mount_feedback
from modelship.serving.loader import load_version
from modelship.serving.metrics import ServingMetrics
from modelship.serving.middleware import RequestMetrics
from modelship.serving.settings import ServingSettings

log = logging.getLogger(__name__)


def create_app(
    settings: ServingSettings,
    *,
    registry: CollectorRegistry | None = None,
    loader: Loader = load_version,
) -> FastAPI:
    """Build the inference app; the model is verified and loaded during startup (lifespan)."""
    registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
    metrics = ServingMetrics(registry, settings.worker_dir)
    store = capture_store(settings)
    capture = (
        None
        if store is None or settings.capture is None
        else Capture(settings.capture, store, CaptureMetrics(registry), writer=_writer())
    )
    plane = DataPlane(settings, metrics, capture)
    feedback = Feedback(
        settings.feedback_token,
        store,
        settings.capture.sample_rate if settings.capture is not None else 0.0,
        registry,
        writer=_writer(),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await plane.start(loader)
        if capture is not None:
            capture.start()
        try:
            yield
        finally:
            await plane.stop()
            if capture is not None:  # write what is queued before the process ends
                await asyncio.to_thread(capture.close)

    app = FastAPI(
        title="Modelship inference server",
        lifespan=lifespan,
        # No interactive docs: the protocol is the documentation, and less surface is safer.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # FastAPI's OpenTelemetry hooks look up three providers (and the environment) on every
        # request; this server reports through Prometheus, so they stay off.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    mount(app.router, plane, metrics.exposition, settings.limits.max_body_bytes)
    mount_feedback(app.router, plane, feedback)
    app.add_exception_handler(ModelshipServingError, _serving_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.state.plane = plane
    app.state.registry = registry
    app.state.metrics = metrics
    app.state.capture = capture
    return app


def capture_store(settings: ServingSettings) -> SegmentStore | None:
    """The store of capture and label segments, when the pod captures at all."""
    if settings.capture is None:
        return None
    uri = settings.capture.store or default_store_uri(
        settings.catalog_root, settings.namespace, settings.model_name
    )
    return open_segment_store(uri)


def _writer() -> str:
    # The pod's name (its hostname) makes segments traceable to the pod that wrote them.
    return writer_id(socket.gethostname())


async def _serving_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, ModelshipServingError)
    return JSON({"error": error.message}, status_code=error.status_code)


async def _http_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return JSON({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)


async def _validation_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in error.errors()
    )
    return JSON({"error": f"invalid request: {problems}"}, status_code=400)


async def _unexpected_error(_: Request, error: Exception) -> Response:
    # A bug, not bad input: log the traceback here, never send it to the client.
    log.error("unhandled error", exc_info=error)
    return JSON({"error": "internal server error"}, status_code=500)
