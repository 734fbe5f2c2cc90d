"""Running the app under uvicorn the way production needs it.

uvloop and httptools for throughput; no access log (a line per request at INFO costs more than
a linear model's prediction and floods the pod's log).

Shutdown drops no request. The kubelet runs the pod's `preStop` hook (a short sleep, see the
operator's serving builders) while the endpoints controller takes the pod out of its Services,
then sends SIGTERM. From that moment readiness answers 503 (for anything that still probes
rather than watches endpoints) and the server keeps accepting for `drain_seconds`, so a request
routed here by a stale view of the endpoints is still answered. Only then does uvicorn stop
listening and wait up to `shutdown_grace_seconds` for in-flight requests, before the lifespan
shuts the batcher down. A second SIGTERM, or SIGINT, skips the drain.
"""

from __future__ import annotations

import logging
import socket

import uvicorn

from modelship.serving.app import create_app
from modelship.serving.dataplane import DataPlane
from modelship.serving.draining import DrainingServer
from modelship.serving.grpc_transport import create_grpc_server
from modelship.serving.metrics import ServingMetrics
from modelship.serving.settings import ServingSettings
from modelship.serving.workers import supervise

log = logging.getLogger(__name__)


def serve(settings: ServingSettings) -> int:
    """Serve until stopped; with more than one worker, supervise that many (workers.py)."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    workers = settings.workers or 1
    if workers > 1 and settings.worker_dir is None:
        return supervise(settings, workers)
    shared = settings.worker_dir is not None
    app = create_app(settings)
    plane: DataPlane = app.state.plane
    metrics: ServingMetrics = app.state.metrics
    config = uvicorn.Config(
        app,
        host=settings.listen_host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    grpc_port = settings.grpc_port
    DrainingServer(
        config,
        on_drain=plane.drain,
        drain_seconds=settings.drain_seconds,
        grpc_server=(
            (
                lambda: create_grpc_server(
                    plane,
                    metrics,
                    settings.listen_host,
                    grpc_port,
                    shared,
                    settings.grpc_transport,
                )
            )
            if grpc_port
            else None
        ),
    ).run(sockets=[_reuse_port_socket(settings.listen_host, settings.port)] if shared else None)
    return 0


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    """Bound with SO_REUSEPORT beside the other workers; uvicorn listens on it once the model
    is loaded, so until then the kernel sends this worker no connection."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock
