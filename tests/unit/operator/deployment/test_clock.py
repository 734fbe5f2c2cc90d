"""The Deployments' clock plans each one's time-driven work from its watch events (pure)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from modelship.operator.deployment.clock import DRIFT_SETTLE_SECONDS, DeploymentClock, Work
from modelship.operator.kube.requeue import Requeues
from support.handler_memo import Clock

KEY = ("ml", "iris")
PROMOTED = {"production": {"version": 1, "promotedAt": "2025-03-01T12:00:00Z"}}


def deployment(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ml", "name": "iris"},
        "spec": {"modelRef": {"name": "iris"}, **spec},
        "status": status or {},
    }


def clock_of(interval: float = 30.0, every: float = 2.0) -> tuple[DeploymentClock, Clock]:
    clock = Clock()
    return DeploymentClock(Requeues(clock), interval, every, clock), clock


def test_nothing_is_planned_for_a_deployment_waiting_for_a_version() -> None:
    deployments, clock = clock_of()
    deployments.seen(KEY, deployment())
    assert deployments.planned() == 1 and deployments.schedule.scheduled(KEY) is None
    deployments.requeues.request(KEY, 5.0)  # a decision asked for a look
    assert deployments.schedule.scheduled(KEY) == clock.now + 5.0
    clock.now += 5.0
    assert deployments.take(KEY) == Work(requeue=True)


def test_drift_is_due_at_once_in_production_then_an_interval_after_each_reading() -> None:
    deployments, clock = clock_of(interval=30.0)
    deployments.seen(KEY, deployment(PROMOTED))
    assert deployments.schedule.scheduled(KEY) == clock.now  # never read: at once
    assert deployments.take(KEY) == Work(drift=True)
    # Until the reading's own event arrives the old status says "due": not read again at once.
    deployments.seen(KEY, deployment(PROMOTED))
    assert deployments.schedule.scheduled(KEY) == clock.now + DRIFT_SETTLE_SECONDS
    read = copy.deepcopy(PROMOTED)
    read["drift"] = {"version": 1, "checkedAt": datetime.now(UTC).isoformat()}
    deployments.seen(KEY, deployment(read))
    planned = deployments.schedule.scheduled(KEY)
    assert planned is not None and 29.0 < planned - clock.now <= 29.5


def test_autoscaled_production_is_sampled_every_interval() -> None:
    deployments, clock = clock_of(interval=3600.0, every=2.0)
    scaled = deployment(PROMOTED, production={"autoscaling": {"maxReplicas": 4}})
    scaled["status"]["drift"] = {"version": 1, "checkedAt": datetime.now(UTC).isoformat()}
    deployments.seen(KEY, scaled)
    assert deployments.schedule.scheduled(KEY) == clock.now + 2.0
    clock.now += 2.0
    work = deployments.take(KEY)
    assert work.sample is not None and work.sample.max_replicas == 4 and not work.drift
    assert not deployments.take(KEY)  # taken: the next one is 2 s on
    unscaled = copy.deepcopy(scaled)
    del unscaled["spec"]["production"]
    assert deployments.seen(KEY, unscaled)  # the operator stopped scaling it: say so
    assert deployments.seen(KEY, unscaled) is False


def test_suspension_and_deletion_drop_the_plan() -> None:
    deployments, _ = clock_of()
    deployments.seen(KEY, deployment(PROMOTED))
    deployments.seen(KEY, deployment(PROMOTED, suspend=True))
    assert deployments.planned() == 0 and deployments.schedule.scheduled(KEY) is None
    deployments.requeues.request(KEY, 0)
    assert deployments.schedule.scheduled(KEY) is None and not deployments.take(KEY)
    deployments.seen(KEY, deployment(PROMOTED))
    assert deployments.planned() == 1
    deleting = deployment(PROMOTED)
    deleting["metadata"]["deletionTimestamp"] = "2026-12-07T12:00:00Z"
    deployments.seen(KEY, deleting)
    assert deployments.planned() == 0
    deployments.seen(KEY, deployment(PROMOTED))
    deployments.seen(KEY, deployment(PROMOTED), deleted=True)
    assert deployments.planned() == 0


def test_only_a_deployment_in_production_keeps_its_last_body() -> None:
    deployments, _ = clock_of()
    deployments.seen(KEY, deployment())  # waiting for a version: planned, nothing kept
    assert deployments.kept(KEY) is None
    deployments.wrote(KEY, deployment(PROMOTED))  # a write does not start keeping
    assert deployments.kept(KEY) is None
    promoted = deployment(PROMOTED)
    deployments.seen(KEY, promoted)
    assert deployments.kept(KEY) == promoted
    written = deployment({**PROMOTED, "drift": {"version": 1}})
    deployments.wrote(KEY, written)
    assert deployments.kept(KEY) == written
    deployments.seen(KEY, deployment(suspend=True))
    assert deployments.kept(KEY) is None
