"""Running the router on uvloop with a draining shutdown.

On SIGTERM the router first turns its readiness to 503 and keeps serving for `drain_seconds`,
so the EndpointSlice controller drops the pod while callers are still answered; only then does
it stop accepting connections and wait up to `shutdown_grace_seconds` for in-flight requests,
after which it stops the API watches, the shadow workers and the pools. A second signal (or
SIGINT) stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import uvloop

from modelship.router.frontend import HttpFrontend
from modelship.router.kubeapi import ApiConnection, KubeSource
from modelship.router.proxy import RouterApp
from modelship.router.settings import RouterSettings

log = logging.getLogger(__name__)


class RouterServer:
    """The router app behind its HTTP front end, with the shutdown sequence above."""

    def __init__(self, app: RouterApp, port: int | None = None) -> None:
        self.app = app
        self._port = app.settings.port if port is None else port  # tests: 0, a free one
        settings = app.settings
        self.frontend = HttpFrontend(
            app.handle,
            max_body_bytes=settings.max_body_bytes,
            idle_seconds=settings.idle_timeout_seconds,
        )
        self.started = asyncio.Event()
        self._stop = asyncio.Event()
        self._hurry = asyncio.Event()  # stop at once: no drain, no grace

    @property
    def port(self) -> int:
        return self.frontend.port

    def terminate(self) -> None:
        """SIGTERM: drain, then stop; a second call stops at once."""
        if self._stop.is_set():
            self._hurry.set()
        self._stop.set()

    def interrupt(self) -> None:
        self._hurry.set()
        self._stop.set()

    async def serve(self) -> None:
        settings = self.app.settings
        await self.app.start()
        try:
            await self.frontend.start(settings.listen_host, self._port)
            self.started.set()
            log.info("router listening on %s:%d", settings.listen_host, self.port)
            await self._stop.wait()
            self.app.draining = True
            if not self._hurry.is_set():
                log.info("SIGTERM: readiness 503, stopping in %.1fs", settings.drain_seconds)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), settings.drain_seconds)
            grace = 0.0 if self._hurry.is_set() else settings.shutdown_grace_seconds
            await self.frontend.shutdown(grace)
        finally:
            await self.app.stop()


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
    uvloop.run(run(RouterApp(settings, source)))


async def run(app: RouterApp) -> None:
    """Serve `app` until SIGTERM (drained) or SIGINT (at once)."""
    server = RouterServer(app)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, server.terminate)
    loop.add_signal_handler(signal.SIGINT, server.interrupt)
    await server.serve()
