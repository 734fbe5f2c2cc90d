"""The operator's `/metrics` endpoint, served by every replica, leader or standby.

Why here and not on Kopf's side: a standby never finishes Kopf's startup (election.py holds it in a
startup handler until the Lease is ours), yet a platform team wants to see it (`leader 0`) and
alert when no replica leads. So the endpoint starts before the election waits, from the one hook
in `election.lead`, on its own port, and its registry lives in Kopf's memo with the rest of the
process state.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp.web
import kopf
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from modelship.operator.ha.elector import LeaderElector
from modelship.operator.metrics.registry import OperatorMetrics
from modelship.operator.settings import OperatorSettings

log = logging.getLogger("modelship.metrics")


def leads(memo: kopf.Memo, settings: OperatorSettings) -> bool:
    """Whether this instance acts now: it holds the Lease, or runs without election."""
    if not settings.leader_election:
        return True
    elector: LeaderElector | None = getattr(memo, "elector", None)
    return elector is not None and elector.leading


async def start_metrics(memo: kopf.Memo, settings: OperatorSettings) -> None:
    """Make the registry and serve it (unless the endpoint is ''); idempotent per memo."""
    if getattr(memo, "metrics", None) is not None:
        return
    memo.metrics = OperatorMetrics(CollectorRegistry(), lambda: leads(memo, settings))
    if not settings.metrics_endpoint:
        return
    url = urlsplit(settings.metrics_endpoint)
    registry = memo.metrics.registry

    async def metrics(_: aiohttp.web.Request) -> aiohttp.web.Response:
        # Off the event loop: at a thousand objects a scrape takes a noticeable fraction of a
        # second, and Kopf's watches and daemons share this loop.
        body = await asyncio.to_thread(generate_latest, registry)
        return aiohttp.web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = aiohttp.web.Application()
    app.router.add_get(url.path or "/metrics", metrics)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, url.hostname or "0.0.0.0", url.port or 80)
    await site.start()
    memo.metrics_runner = runner
    log.info("serving metrics on %s", settings.metrics_endpoint)


@kopf.on.cleanup()
async def stop_metrics(memo: kopf.Memo, **_: Any) -> None:
    runner: aiohttp.web.AppRunner | None = getattr(memo, "metrics_runner", None)
    if runner is not None:
        memo.metrics_runner = None
        await runner.cleanup()
