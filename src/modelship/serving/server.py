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

import gc
import logging
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

import uvicorn

from modelship.serving.app import create_app
from modelship.serving.dataplane import DataPlane
from modelship.serving.grpc_transport import GrpcServer, create_grpc_server
from modelship.serving.metrics import ServingMetrics
from modelship.serving.settings import ServingSettings
from modelship.serving.workers import supervise

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first SIGTERM starts a drain instead of stopping at once, and which
    runs the gRPC server (when there is one) on its event loop, started after the app's startup
    and stopped before the app's shutdown."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        on_drain: Callable[[], None],
        drain_seconds: float,
        grpc_server: Callable[[], GrpcServer] | None = None,
    ) -> None:
        super().__init__(config)
        self._on_drain = on_drain
        self._drain_seconds = drain_seconds
        self._drain_deadline: float | None = None
        self._make_grpc = grpc_server
        self._grpc: GrpcServer | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # The model, scikit-learn, numpy and the app are ~140k long-lived objects; every full
        # (generation 2) collection walked them all and stopped the loop for 100-200 ms at
        # saturation (13 times in 8 s: p99 93 ms for a p50 of 4 ms). Frozen, they are never
        # scanned again; what requests allocate is still collected as before (p99 13 ms).
        gc.collect()
        gc.freeze()
        if self._make_grpc is not None and not self.should_exit:
            # Created here: either transport binds its server to the running loop.
            self._grpc = self._make_grpc()
            await self._grpc.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._grpc is not None:
            # No new calls from now on; calls in flight get the same grace as HTTP requests.
            await self._grpc.stop(self.config.timeout_graceful_shutdown)
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: it runs between two bytecodes of the event loop's thread, so it only
        # sets flags; `on_tick` (every 0.1 s on the loop) acts on them.
        if sig == signal.SIGTERM and self._drain_deadline is None and not self.should_exit:
            self._drain_deadline = time.monotonic() + self._drain_seconds
            self._on_drain()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_deadline is not None and time.monotonic() >= self._drain_deadline:
            self.should_exit = True
        return await super().on_tick(counter)


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
