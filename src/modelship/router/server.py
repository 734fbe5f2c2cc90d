"""Running the router under uvicorn (uvloop, httptools) with a draining shutdown.

On SIGTERM the router first turns its readiness to 503 and keeps serving for `drain_seconds`,
so the EndpointSlice controller drops the pod while callers are still answered; only then does
uvicorn stop accepting connections and wait up to `shutdown_grace_seconds` for in-flight
requests, after which the lifespan stops the API watches, the shadow workers and the pools. A
second signal stops at once.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

import uvicorn

from modelship.router.kubeapi import ApiConnection, KubeSource
from modelship.router.proxy import RouterApp
from modelship.router.settings import RouterSettings

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, router: RouterApp, drain_seconds: float) -> None:
        super().__init__(config)
        self.router_app = router
        self.drain_seconds = drain_seconds
        self._exit_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._exit_at is not None or sig == signal.SIGINT:
            self.should_exit = True
            return
        log.info("SIGTERM: readiness 503, stopping in %.1fs", self.drain_seconds)
        self.router_app.draining = True
        self._exit_at = time.monotonic() + self.drain_seconds

    async def on_tick(self, counter: int) -> bool:
        if self._exit_at is not None and time.monotonic() >= self._exit_at:
            self.should_exit = True
        return await super().on_tick(counter)


def config(app: RouterApp, settings: RouterSettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.listen_host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        server_header=False,
        # The backend's Date header is forwarded; uvicorn would add a second one.
        date_header=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )


def serve(settings: RouterSettings, connection: ApiConnection) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    source = KubeSource(
        connection,
        settings.namespace,
        settings.routing_config_map,
        watch_timeout=settings.watch_timeout_seconds,
        retry_max=settings.api_retry_max_seconds,
    )
    app = RouterApp(settings, source)
    DrainingServer(config(app, settings), app, settings.drain_seconds).run()
