"""gRPC endpoints: the Open Inference Protocol's `inference.GRPCInferenceService`.

Only gRPC concerns live here, as endpoints.py holds only HTTP ones: messages in and out
(grpc_codec), status codes, and the per-RPC request metrics. Validation, admission, prediction,
drift and prediction metrics are the data plane's, shared with REST.

Each method is bytes in, an `Outcome` out (status, reason, reply bytes): no transport appears
here, so grpcio's server (grpcio_server.py) and ours (h2/, the default: it costs a third of
grpcio's CPU per call) serve the same logic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import grpc
from google.protobuf.message import DecodeError

from modelship.serving import grpc_codec
from modelship.serving.dataplane import DataPlane
from modelship.serving.errors import ModelshipServingError
from modelship.serving.metrics import ServingMetrics
from modelship.serving.protocol import inference_pb2 as pb

log = logging.getLogger(__name__)

SERVICE = "inference.GRPCInferenceService"

# The REST status of a refusal, as the gRPC status a client's stub raises.
_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


class Outcome(NamedTuple):
    """A call's result: `reply` is the serialized response message when `code` is OK."""

    code: grpc.StatusCode
    message: str
    reply: bytes


# A method's logic: the request message and the caller's x-request-id in, the reply out;
# refusals are ModelshipServingErrors.
Method = Callable[[bytes, str | None], Awaitable[bytes]]


class InferenceService:
    """Each RPC is what one REST route does, bound to one data plane."""

    def __init__(self, plane: DataPlane, metrics: ServingMetrics) -> None:
        self._plane = plane
        self._metrics = metrics
        self.methods: dict[str, Method] = {
            "ServerLive": self._server_live,
            "ServerReady": self._server_ready,
            "ModelReady": self._model_ready,
            "ServerMetadata": self._server_metadata,
            "ModelMetadata": self._model_metadata,
            "ModelInfer": self._model_infer,
        }

    async def call(self, method: str, request: bytes, request_id: str | None) -> Outcome:
        """Run one method, count it, and turn a refusal into its status."""
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return Outcome(code, "", await self.methods[method](request, request_id))
        except ModelshipServingError as error:
            code = _STATUS.get(error.status_code, grpc.StatusCode.INTERNAL)
            return Outcome(code, error.message, b"")
        except DecodeError:
            # What grpcio answers when its deserializer fails.
            code = grpc.StatusCode.INTERNAL
            return Outcome(code, f"Exception deserializing request for {method}", b"")
        except Exception as error:
            # A bug, not bad input: the traceback goes to the log, never to the client.
            code = grpc.StatusCode.INTERNAL
            log.error("unhandled error in %s", method, exc_info=error)
            return Outcome(code, "internal server error", b"")
        finally:
            self._metrics.observe_rpc(method, code.name, time.perf_counter() - started)

    async def _server_live(self, request: bytes, request_id: str | None) -> bytes:
        pb.ServerLiveRequest.FromString(request)
        return _bytes(pb.ServerLiveResponse(live=True))

    async def _server_ready(self, request: bytes, request_id: str | None) -> bytes:
        pb.ServerReadyRequest.FromString(request)
        return _bytes(pb.ServerReadyResponse(ready=self._plane.ready))

    async def _model_ready(self, request: bytes, request_id: str | None) -> bytes:
        message = pb.ModelReadyRequest.FromString(request)
        self._plane.check_model(message.name, message.version or None)
        return _bytes(pb.ModelReadyResponse(ready=self._plane.ready))

    async def _server_metadata(self, request: bytes, request_id: str | None) -> bytes:
        pb.ServerMetadataRequest.FromString(request)
        metadata = self._plane.server_metadata()
        reply = pb.ServerMetadataResponse(
            name=metadata["name"], version=metadata["version"], extensions=metadata["extensions"]
        )
        return _bytes(reply)

    async def _model_metadata(self, request: bytes, request_id: str | None) -> bytes:
        message = pb.ModelMetadataRequest.FromString(request)
        document = self._plane.model_metadata(message.name, message.version or None)
        return _bytes(grpc_codec.model_metadata(document))

    async def _model_infer(self, request: bytes, request_id: str | None) -> bytes:
        message = pb.ModelInferRequest.FromString(request)
        name, version = message.model_name, message.model_version or None
        self._plane.check_model(name, version)  # NOT_FOUND before decoding tensors
        document = grpc_codec.request_document(message)
        result = await self._plane.infer_tensors(name, version, document, request_id)
        return _bytes(grpc_codec.infer_response(result))


def _bytes(message: object) -> bytes:
    serialized: bytes = message.SerializeToString()  # type: ignore[attr-defined]
    return serialized
