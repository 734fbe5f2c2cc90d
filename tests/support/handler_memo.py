"""The memo startup.configure gives the Deployment handlers, and a clock tests move by hand."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import kopf
from prometheus_client import CollectorRegistry

from modelship.operator.kube.changes import Changes
from modelship.operator.kube.requeue import Requeues
from modelship.operator.metrics import OperatorMetrics
from support.deployments import SETTINGS


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def handler_memo(kube: Any, clock: Any) -> kopf.Memo:
    """What startup.configure puts in the memo that the Deployment handlers use."""
    return kopf.Memo(
        kube=kube,
        settings=SETTINGS,
        locks=defaultdict(threading.Lock),
        deployment_requeues=Requeues(clock),
        model_changes=Changes(),
        metrics=OperatorMetrics(CollectorRegistry(), lambda: True),
    )
