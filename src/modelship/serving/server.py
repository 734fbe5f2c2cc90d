"""Running the app under uvicorn the way production needs it.

uvloop and httptools for throughput; no access log (a line per request at INFO costs more than
a linear model's prediction and floods the pod's log); SIGTERM stops accepting connections and
waits up to `shutdown_grace_seconds` for in-flight requests before the lifespan shuts down the
batcher, which is what a Deployment's rolling update needs to drop no request.
"""

from __future__ import annotations

import logging

import uvicorn

from modelship.serving.app import create_app
from modelship.serving.settings import ServingSettings


def serve(settings: ServingSettings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = uvicorn.Config(
        create_app(settings),
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
    uvicorn.Server(config).run()
