"""Process state and Kopf settings, set up once when the operator starts.

Each Kopf setting below is chosen on purpose; the comment says why.
"""

from __future__ import annotations

import asyncio
import logging
import os
from functools import partial
from typing import Any

import kopf

from modelship.operator.deployment.autoscale import Windows
from modelship.operator.deployment.clock import DeploymentClock
from modelship.operator.deployment.drift import DriftReader
from modelship.operator.deployment.followers import DeploymentFollowers
from modelship.operator.deployment.traffic import TrafficReader
from modelship.operator.deployment_handlers import clock_pass
from modelship.operator.handlers import model_clock_pass
from modelship.operator.kube.changes import Changes
from modelship.operator.kube.client import Kube, load_api_client
from modelship.operator.kube.handoff import Handoff
from modelship.operator.kube.kopf_storage import storages as kopf_storages
from modelship.operator.kube.locks import KeyedLocks
from modelship.operator.kube.requeue import Requeues
from modelship.operator.model.clock import ModelClock
from modelship.operator.model.dataset_jobs import FileDatasetJobs
from modelship.operator.model.dataset_probe import DatasetProbe
from modelship.operator.settings import OperatorSettings

# Passes under way when the operator stops get this long to finish (a Kopf daemon's
# cancellation_timeout before).
CLOCK_STOP_SECONDS = 10.0
# The clocks' passes run on asyncio's default executor: at most this many threads at once.
CLOCK_CALLERS = min(32, (os.cpu_count() or 1) + 4)


@kopf.on.startup()
def configure(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    operator_settings = OperatorSettings()
    # Our own state lives under our own domain, not Kopf's default `kopf.zalando.org`, and in
    # annotations rather than status: status belongs to the API (and is pruned to its schema).
    settings.persistence.finalizer = "modelship.io/finalizer"
    # Kopf would then take every `modelship.io/` annotation for its own and never notice a user's
    # `modelship.io/retrain` or `/promote`; these storages keep those in what it compares.
    progress, diffbase = kopf_storages()
    settings.persistence.progress_storage = progress
    settings.persistence.diffbase_storage = diffbase
    # Controllers post the Events users care about themselves; Kopf's per-handler chatter would
    # repeat on every resync, so only warnings and errors from Kopf become Events.
    settings.posting.level = logging.WARNING
    # Re-open watches well before typical load-balancer idle timeouts cut them silently.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    # Sync handlers run in threads, each waiting on the API server most of its time.
    settings.execution.max_workers = operator_settings.handler_threads
    # One instance acts at a time through the leader Lease (election.py), which Kopf's peering
    # cannot promise: peers of equal priority both run, and it needs its own CRDs and writes.
    settings.peering.standalone = operator_settings.standalone
    settings.peering.mandatory = False
    # httpx logs every request at INFO; drift reads every few seconds would drown the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    memo.settings = operator_settings
    # A connection for each handler thread and each clock task: fewer, and urllib3 opens and
    # drops a TLS connection for every request beyond them.
    threads = operator_settings.handler_threads + CLOCK_CALLERS
    memo.kube = Kube(load_api_client(connections=threads))
    # The same test load_api_client uses: in a pod, the service-account environment is set.
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    memo.drift_reader = DriftReader(
        memo.kube,
        operator_settings.drift_access,
        in_cluster,
        operator_settings.drift_read_timeout_seconds,
    )
    # Canary analysis windows and shadow figures: pods' /metrics, read like drift reports.
    memo.traffic_reader = TrafficReader(operator_settings.drift_read_timeout_seconds)
    # Autoscaling's readings of production's in-flight requests: process state, refilled after
    # a restart (the windows say when they are not yet full).
    memo.autoscale_windows = Windows(
        operator_settings.autoscale_stable_window_seconds,
        operator_settings.autoscale_panic_window_seconds,
    )
    memo.dataset_probe = DatasetProbe(
        operator_settings.dataset_check_interval_seconds,
        FileDatasetJobs(memo.kube, operator_settings),
    )
    # Reconciles of one object triggered from different watches must not interleave.
    memo.locks = KeyedLocks()
    # When each Deployment asked to be looked at again, and the one clock that plans all their
    # time-driven work. Made here, not on first use: Kopf's per-object memos are copies of this
    # one, so a requeue asked for by a reconcile that a child's event started would otherwise
    # never reach the clock.
    memo.deployment_requeues = Requeues()
    memo.deployment_clock = DeploymentClock(
        memo.deployment_requeues,
        operator_settings.drift_interval_seconds,
        operator_settings.autoscale_sample_seconds,
    )
    memo.model_clock = ModelClock()
    memo.model_changes = Changes()
    # Which Deployments each Model's events must reconcile (see followers.py: not a Kopf index).
    memo.deployment_followers = DeploymentFollowers()
    memo.measured_changes = Changes()
    memo.training_changes = Changes()  # what each TrainingJob's Model last saw of it
    # Reconciles that event handlers start without making the object's events wait (handoff.py).
    memo.handoff = Handoff()
    memo.models_reading_deployments = {}
    logger.info("modelship operator configured (image %s)", operator_settings.image)


class Clocks:
    """The Deployments' and the Models' clocks' runner tasks.

    Started by the first watch event's handler, not at startup: Kopf sets up the context its
    Event posting needs (`kopf.event`) for handlers, not for startup activities, and a task keeps
    the context it was created in; started at startup, every reconcile a clock ran failed at its
    first Event. There is nothing to run before the first event anyway, and a standby sees none.
    """

    def __init__(self, memo: kopf.Memo) -> None:
        self._memo = memo
        self._stopped = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def ensure_running(self) -> None:
        """Start the runners once (from the event loop, in a handler's context)."""
        if self._tasks or self._stopped.is_set():
            return
        memo = self._memo
        deployments: DeploymentClock = memo.deployment_clock
        models: ModelClock = memo.model_clock
        self._tasks = [
            asyncio.create_task(deployments.schedule.run(partial(clock_pass, memo), self._stopped)),
            asyncio.create_task(
                models.schedule.run(partial(model_clock_pass, memo), self._stopped)
            ),
        ]

    async def stop(self) -> bool:
        """Stop planning new work; wait up to CLOCK_STOP_SECONDS for passes under way. False:
        some did not end in time (they are cancelled)."""
        self._stopped.set()
        if not self._tasks:
            return True
        late = (await asyncio.wait(self._tasks, timeout=CLOCK_STOP_SECONDS))[1]
        for task in late:
            task.cancel()
        return not late


@kopf.on.startup()
async def start_clock(memo: kopf.Memo, **_: Any) -> None:
    """Make the clocks' runners (after `configure`: handlers are called in this order); the
    first watch event starts them (`Clocks`)."""
    memo.clocks = Clocks(memo)


@kopf.on.cleanup()
async def stop_clock(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Stop planning new work; let the passes already running finish (up to 10 s)."""
    clocks: Clocks | None = memo.get("clocks")
    if clocks is not None and not await clocks.stop():
        logger.warning("the clocks did not stop in %ss", CLOCK_STOP_SECONDS)


@kopf.on.cleanup()
async def finish_handoffs(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Let the reconciles event handlers started finish (up to 10 s), as the clocks' passes."""
    handoff: Handoff | None = memo.get("handoff")
    if handoff is not None and not await handoff.wait(CLOCK_STOP_SECONDS):
        logger.warning(
            "%d handed-off reconciles did not end in %ss", handoff.pending(), CLOCK_STOP_SECONDS
        )


@kopf.on.cleanup()
def close(memo: kopf.Memo, **_: Any) -> None:
    for name in ("drift_reader", "traffic_reader", "dataset_probe", "kube"):
        resource = getattr(memo, name, None)
        if resource is not None:
            resource.close()
