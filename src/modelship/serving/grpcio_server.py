"""The gRPC service on grpcio's asyncio server: the fallback transport (`GRPC_TRANSPORT=grpcio`).

Messages pass through grpcio as bytes (identity serializers): the endpoints parse and build
them (grpc_endpoints.py), as they do for our own transport (h2/), so both answer alike.
"""

from __future__ import annotations

from typing import Any

import grpc
from grpc import aio

from modelship.serving import identity
from modelship.serving.grpc_endpoints import SERVICE, InferenceService


def create_grpcio_server(
    service: InferenceService, max_message_bytes: int, host: str, port: int, reuse_port: bool
) -> aio.Server:
    """The gRPC server, bound but not started (the caller starts and stops it); `reuse_port`
    when it shares the port with the other workers of the pod."""
    server = aio.server(
        options=[
            # Bodies beyond the REST limit are refused by gRPC itself, before decoding.
            ("grpc.max_receive_message_length", max_message_bytes),
            # Without workers, a second server on the port is a mistake that must fail loudly.
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ]
    )
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            _handler(service, name), request_deserializer=_same, response_serializer=_same
        )
        for name in service.methods
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    server.add_insecure_port(address)
    return server


def _handler(service: InferenceService, name: str) -> Any:
    async def handle(request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
        outcome = await service.call(name, request, _request_id(context))
        if outcome.code is not grpc.StatusCode.OK:
            await context.abort(outcome.code, outcome.message)
        return outcome.reply

    return handle


def _request_id(context: aio.ServicerContext[bytes, bytes]) -> str | None:
    """The `x-request-id` metadata a proxy or client set, as REST reads the header."""
    for key, value in context.invocation_metadata() or ():
        if key == identity.REQUEST_ID_HEADER and isinstance(value, str):
            return value
    return None


def _same(data: bytes) -> bytes:
    return data
