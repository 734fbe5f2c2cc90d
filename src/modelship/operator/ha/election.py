"""Kopf's side of leader election: no watch, no handler, no write before the Lease is ours.

Kopf starts its watch streams only after every startup handler has returned, so a startup
handler that waits for the Lease keeps a standby from acting at all, whether the operator was
started by `python -m modelship.operator` or by `kopf run -m modelship.operator`. While it
waits, Kopf's own health endpoint is not up yet, so this module answers `/healthz` itself: a
standby is alive and ready (a rolling update of the operator needs its new pods Ready), it
just does not lead.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import aiohttp.web
import kopf

from modelship.operator.ha.elector import LeaderElector, Timing, unique_identity
from modelship.operator.kube.client import Kube, load_api_client
from modelship.operator.metrics import start_metrics
from modelship.operator.settings import OperatorSettings

# Exit code of an operator that lost its Lease: the container restarts as a clean standby.
LOST_LEASE_EXIT_CODE = 3
log = logging.getLogger("modelship.leadership")


@asynccontextmanager
async def standby_health(endpoint: str) -> AsyncIterator[None]:
    """Answer the liveness/readiness probe on Kopf's endpoint until Kopf takes it over."""
    if not endpoint:
        yield
        return
    url = urlsplit(endpoint)
    app = aiohttp.web.Application()

    async def healthz(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"leader": False, "state": "standing by"})

    app.router.add_get(url.path or "/", healthz)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, url.hostname or "0.0.0.0", url.port or 80)
    await site.start()
    try:
        yield
    finally:
        await runner.cleanup()


def lose_leadership(why: str) -> None:
    """Stop acting at once: nothing of this process may write after the Lease is gone."""
    log.critical("lost leadership (%s); exiting so that two operators never act at once", why)
    logging.shutdown()
    os._exit(LOST_LEASE_EXIT_CODE)


@kopf.on.startup()
async def lead(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    settings = OperatorSettings()
    await start_metrics(memo, settings)  # every replica, standbys too: before the wait below
    if not settings.leader_election:
        logger.warning("leader election is off: make sure no other operator instance runs")
        return
    elector = LeaderElector(
        Kube(load_api_client()),
        settings.lease_namespace,
        settings.lease_name,
        unique_identity(settings.lease_identity),
        Timing(
            settings.lease_duration_seconds,
            settings.lease_renew_deadline_seconds,
            settings.lease_retry_period_seconds,
            settings.lease_renew_interval_seconds,
        ),
    )
    memo.elector = elector
    async with standby_health(settings.health_endpoint):
        try:
            acquired = await asyncio.to_thread(elector.acquire)
        except asyncio.CancelledError:
            elector.stop()
            raise
    if not acquired:
        raise kopf.PermanentError("stopped before acquiring the leader Lease")
    elector.keep(lose_leadership)
    logger.info("leading: %s held as %s", elector.where, elector.identity)


@kopf.on.cleanup()
async def step_down(memo: kopf.Memo, **_: Any) -> None:
    elector: LeaderElector | None = getattr(memo, "elector", None)
    if elector is not None:
        await asyncio.to_thread(elector.release)
        memo.elector = None  # released: nothing is left for `__main__` to hand back
        elector.kube.close()
