"""gRPC endpoints: the Open Inference Protocol's `inference.GRPCInferenceService`.

Only gRPC concerns live here, as endpoints.py holds only HTTP ones: messages in and out
(grpc_codec), status codes, and the per-RPC request metrics. Validation, admission, prediction,
drift and prediction metrics are the data plane's, shared with REST. The server runs on the
same event loop as uvicorn (grpc.aio), on its own port, and stops with it (server.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc import aio

from modelship.serving import grpc_codec, identity
from modelship.serving.dataplane import DataPlane
from modelship.serving.errors import ModelshipServingError
from modelship.serving.metrics import ServingMetrics
from modelship.serving.protocol import inference_pb2 as pb
from modelship.serving.protocol import inference_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
Reply = TypeVar("Reply")

# The REST status of a refusal, as the gRPC status a client's stub raises.
_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    """Each RPC is what one REST route does, bound to one data plane."""

    def __init__(self, plane: DataPlane, metrics: ServingMetrics) -> None:
        self._plane = plane
        self._metrics = metrics

    async def ServerLive(  # noqa: N802 -- the protocol's method names
        self, request: pb.ServerLiveRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ServerLiveResponse:
        return await self._call(
            "ServerLive", context, lambda: _done(pb.ServerLiveResponse(live=True))
        )

    async def ServerReady(  # noqa: N802
        self, request: pb.ServerReadyRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ServerReadyResponse:
        ready = pb.ServerReadyResponse(ready=self._plane.ready)
        return await self._call("ServerReady", context, lambda: _done(ready))

    async def ModelReady(  # noqa: N802
        self, request: pb.ModelReadyRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ModelReadyResponse:
        async def answer() -> pb.ModelReadyResponse:
            self._plane.check_model(request.name, request.version or None)
            return pb.ModelReadyResponse(ready=self._plane.ready)

        return await self._call("ModelReady", context, answer)

    async def ServerMetadata(  # noqa: N802
        self, request: pb.ServerMetadataRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ServerMetadataResponse:
        metadata = self._plane.server_metadata()
        reply = pb.ServerMetadataResponse(
            name=metadata["name"], version=metadata["version"], extensions=metadata["extensions"]
        )
        return await self._call("ServerMetadata", context, lambda: _done(reply))

    async def ModelMetadata(  # noqa: N802
        self, request: pb.ModelMetadataRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ModelMetadataResponse:
        async def answer() -> pb.ModelMetadataResponse:
            document = self._plane.model_metadata(request.name, request.version or None)
            return grpc_codec.model_metadata(document)

        return await self._call("ModelMetadata", context, answer)

    async def ModelInfer(  # noqa: N802
        self, request: pb.ModelInferRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ModelInferResponse:
        async def answer() -> pb.ModelInferResponse:
            name, version = request.model_name, request.model_version or None
            self._plane.check_model(name, version)  # NOT_FOUND before decoding tensors
            document = grpc_codec.request_document(request)
            header_id = _request_id_header(context)
            result = await self._plane.infer_tensors(name, version, document, header_id)
            return grpc_codec.infer_response(result)

        return await self._call("ModelInfer", context, answer)

    async def _call(
        self,
        method: str,
        context: aio.ServicerContext[Any, Any],
        answer: Callable[[], Awaitable[Reply]],
    ) -> Reply:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await answer()
        except ModelshipServingError as error:
            code = _STATUS.get(error.status_code, grpc.StatusCode.INTERNAL)
            await context.abort(code, error.message)
            raise  # abort raises; this line is for type checkers
        except Exception as error:
            # A bug, not bad input: the traceback goes to the log, never to the client.
            code = grpc.StatusCode.INTERNAL
            log.error("unhandled error in %s", method, exc_info=error)
            await context.abort(code, "internal server error")
            raise
        finally:
            self._metrics.observe_rpc(method, code.name, time.perf_counter() - started)


def _request_id_header(context: aio.ServicerContext[Any, Any]) -> str | None:
    """The `x-request-id` metadata a proxy or client set, as REST reads the header."""
    for key, value in context.invocation_metadata() or ():
        if key == identity.REQUEST_ID_HEADER and isinstance(value, str):
            return value
    return None


async def _done(reply: Reply) -> Reply:
    return reply


def create_grpc_server(
    plane: DataPlane, metrics: ServingMetrics, host: str, port: int, reuse_port: bool = False
) -> aio.Server:
    """The gRPC server, bound but not started (the caller starts and stops it); `reuse_port`
    when it shares the port with the other workers of the pod."""
    server = aio.server(
        options=[
            # Bodies beyond the REST limit are refused by gRPC itself, before decoding.
            ("grpc.max_receive_message_length", plane.max_body_bytes),
            # Without workers, a second server on the port is a mistake that must fail loudly.
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ]
    )
    service = InferenceService(plane, metrics)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(service, server)  # type: ignore[no-untyped-call]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    server.add_insecure_port(address)
    return server
