"""Request accounting as a plain ASGI middleware.

Plain ASGI rather than Starlette's BaseHTTPMiddleware, which wraps every response body in a
task and a stream and costs more per request than a linear model's prediction. The route label
is the matched endpoint's name (the router puts the endpoint on the scope; our route names are
the endpoint function names), so the label set is fixed by the code rather than by whatever
paths clients try; anything unrouted is "unmatched".
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelship.serving.metrics import ServingMetrics


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before starting a response

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_record)
        finally:
            endpoint: Any = scope.get("endpoint")
            self._metrics.observe_request(
                getattr(endpoint, "__name__", None) or "unmatched",
                scope["method"],
                status,
                time.perf_counter() - started,
            )
