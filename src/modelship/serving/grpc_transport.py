"""The gRPC server of the inference server, on the transport the settings choose.

`h2` (default) is ours (h2/): a unary call costs about a third of grpcio's CPU
(bench/grpc_transport_floor.py). `grpcio` is grpcio's asyncio server, kept as the fallback.
Both serve grpc_endpoints.InferenceService, so answers, refusals and metrics are the same.
"""

from __future__ import annotations

from typing import Literal, Protocol

import grpc

from modelship.serving import identity
from modelship.serving.dataplane import DataPlane
from modelship.serving.grpc_endpoints import SERVICE, InferenceService
from modelship.serving.grpcio_server import create_grpcio_server
from modelship.serving.h2 import grpc_wire
from modelship.serving.h2.connection import Handler
from modelship.serving.h2.hpack import Header
from modelship.serving.h2.server import H2GrpcServer
from modelship.serving.metrics import ServingMetrics

Transport = Literal["h2", "grpcio"]
_REQUEST_ID = identity.REQUEST_ID_HEADER.encode()


class GrpcServer(Protocol):
    """What server.py needs of either transport."""

    async def start(self) -> None: ...

    async def stop(self, grace: float | None) -> None: ...


def create_grpc_server(
    plane: DataPlane,
    metrics: ServingMetrics,
    host: str,
    port: int,
    reuse_port: bool = False,
    transport: Transport = "h2",
) -> GrpcServer:
    """The gRPC server, bound when started; `reuse_port` when it shares the port with the
    other workers of the pod."""
    service = InferenceService(plane, metrics)
    if transport == "grpcio":
        server: GrpcServer = create_grpcio_server(
            service, plane.max_body_bytes, host, port, reuse_port
        )
        return server
    return H2GrpcServer(h2_methods(service), plane.max_body_bytes, host, port, reuse_port)


def h2_methods(service: InferenceService) -> dict[bytes, Handler]:
    """Each method's path, and its logic as our transport calls it."""
    return {f"/{SERVICE}/{name}".encode(): _h2_handler(service, name) for name in service.methods}


def _h2_handler(service: InferenceService, name: str) -> Handler:
    async def handle(message: bytes, headers: list[Header]) -> grpc_wire.Reply:
        outcome = await service.call(name, message, _request_id(headers))
        if outcome.code is grpc.StatusCode.OK:
            return grpc_wire.ok(outcome.reply)
        return grpc_wire.error(outcome.code.value[0], outcome.message)

    return handle


def _request_id(headers: list[Header]) -> str | None:
    for name, value in headers:
        if name == _REQUEST_ID:
            return value.decode("ascii", "replace")
    return None
