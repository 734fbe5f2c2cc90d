"""The memo startup.configure gives the Deployment handlers, and a clock tests move by hand."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from prometheus_client import CollectorRegistry

from modelship.operator import deployment_handlers
from modelship.operator.deployment.clock import DeploymentClock
from modelship.operator.deployment.followers import DeploymentFollowers
from modelship.operator.kube.changes import Changes
from modelship.operator.kube.handoff import Handoff
from modelship.operator.kube.locks import KeyedLocks
from modelship.operator.kube.requeue import Requeues
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.settings import OperatorSettings
from support.deployments import SETTINGS


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def handler_memo(
    kube: Any, clock: Any, settings: OperatorSettings = SETTINGS, **more: Any
) -> kopf.Memo:
    """What startup.configure puts in the memo that the Deployment handlers use."""
    requeues = Requeues(clock)
    return kopf.Memo(
        kube=kube,
        settings=settings,
        locks=KeyedLocks(),
        deployment_requeues=requeues,
        deployment_clock=DeploymentClock(
            requeues, settings.drift_interval_seconds, settings.autoscale_sample_seconds, clock
        ),
        model_changes=Changes(),
        deployment_followers=DeploymentFollowers(),
        handoff=Handoff(),
        metrics=OperatorMetrics(CollectorRegistry(), lambda: True),
        **more,
    )


def model_event(memo: kopf.Memo, body: Any, type: str | None = "MODIFIED") -> None:
    """Deliver a Model's watch event as Kopf does and wait for the reconciles it handed off."""

    async def deliver() -> None:
        await deployment_handlers.model_event(body=body, memo=memo, type=type)
        await memo.handoff.wait()

    asyncio.run(deliver())
