"""`create_app`: the one place where settings, registry, data plane and endpoints are wired.

Everything the app needs is passed in or created here, so tests build as many independent apps
as they like (each with its own CollectorRegistry) and nothing is read from the environment.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException

from modelship.serving.dataplane import DataPlane, Loader
from modelship.serving.endpoints import JSON, mount
from modelship.serving.errors import ModelshipServingError
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
    plane = DataPlane(settings, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await plane.start(loader)
        try:
            yield
        finally:
            await plane.stop()

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
    app.add_exception_handler(ModelshipServingError, _serving_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.state.plane = plane
    app.state.registry = registry
    app.state.metrics = metrics
    return app


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
