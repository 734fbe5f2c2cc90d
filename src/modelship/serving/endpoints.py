"""HTTP endpoints: translate requests into data-plane calls and results into JSON responses.

Only HTTP concerns live here: paths, status codes, reading the body under the size limit, and
rendering JSON. Bodies are read raw and parsed by the codec rather than declared as FastAPI body
models, because pydantic validation of every number would cost more than the prediction and
would still not check what matters (shape against the model's features).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pydantic_core
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import ClientDisconnect

from modelship.serving import binary_extension, identity
from modelship.serving.dataplane import DataPlane
from modelship.serving.errors import PayloadTooLargeError

Endpoint = Callable[[Request], Awaitable[Response]]


class JSON(Response):
    """JSON rendered by pydantic-core: several times faster than json.dumps for tensors."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes.

    A declared Content-Length is checked before reading anything; a chunked body is counted as
    it arrives. Messages are taken from ASGI `receive` directly: Starlette's `stream()` is an
    async generator, and creating one per request is measurable at these request rates.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body of {declared} bytes exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def mount(
    router: APIRouter, plane: DataPlane, registry: CollectorRegistry, max_body_bytes: int
) -> None:
    """Add every route to `router`, bound to one data plane (no module-level state).

    Routes are plain Starlette endpoints (`Request` in, `Response` out) added in order of
    traffic: FastAPI's dependency solving and its route matching cost more per request than the
    whole prediction of a linear model, and these handlers need neither.
    """

    def add(path: str, endpoint: Endpoint, method: str = "GET") -> None:
        # The route's name is the function's: the metrics middleware labels requests by it.
        name = endpoint.__name__
        router.add_route(path, endpoint, methods=[method], name=name, include_in_schema=False)

    async def infer(request: Request) -> Response:
        name, version = _model(request)
        plane.check_model(name, version)  # 404 before reading a body that is not for us
        body = await read_body(request, max_body_bytes)
        header = request.headers.get(binary_extension.HEADER)
        request_id = request.headers.get(identity.REQUEST_ID_HEADER)
        if binary_extension.is_plain(body, header):
            return JSON(await plane.infer(name, version, body, request_id))
        payload = binary_extension.decode_request(body, header)
        document = await plane.infer_document(name, version, payload, request_id)
        encoded = binary_extension.encode_response(document, payload)
        if encoded is None:
            return JSON(document)
        content, length = encoded
        return Response(
            content,
            media_type="application/octet-stream",
            headers={binary_extension.HEADER: str(length)},
        )

    async def v1_predict(request: Request) -> Response:
        name, _ = _model(request)
        plane.check_model(name, None)
        body = await read_body(request, max_body_bytes)
        return JSON(await plane.predict_v1(name, body))

    async def health_live(_: Request) -> Response:
        return JSON({"live": True})

    async def health_ready(_: Request) -> Response:
        return _readiness(plane)

    async def server_metadata(_: Request) -> Response:
        return JSON(plane.server_metadata())

    async def model_metadata(request: Request) -> Response:
        return JSON(plane.model_metadata(*_model(request)))

    async def model_ready(request: Request) -> Response:
        name, version = _model(request)
        plane.check_model(name, version)
        return _readiness(plane, name=name)

    async def drift(request: Request) -> Response:
        return JSON(plane.drift(*_model(request)))

    async def v1_model(request: Request) -> Response:
        name, _ = _model(request)
        plane.check_model(name, None)
        return JSON({"name": name, "ready": plane.ready})

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        add(f"{prefix}/infer", infer, "POST")
    add("/v1/models/{name}:predict", v1_predict, "POST")
    add("/v2/health/live", health_live)
    add("/v2/health/ready", health_ready)
    add("/metrics", metrics)
    add("/v2", server_metadata)
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        add(prefix, model_metadata)
        add(f"{prefix}/ready", model_ready)
        add(f"{prefix}/drift", drift)
    add("/v1/models/{name}", v1_model)


def _model(request: Request) -> tuple[str, str | None]:
    params = request.path_params
    return params["name"], params.get("version")


def _readiness(plane: DataPlane, name: str | None = None) -> Response:
    document: dict[str, Any] = {"ready": plane.ready}
    if name is not None:
        document = {"name": name, **document}
    if plane.ready:
        return JSON(document)
    # 503 so that Kubernetes readiness probes and load balancers keep traffic away.
    return JSON({**document, "reason": plane.not_ready_reason}, status_code=503)
