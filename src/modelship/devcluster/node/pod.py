"""One pod on the local node: from bound to deleted.

`PodRunner.run` checks what can never work here (a foreign image, an unsupported volume) and
reports it, prepares the volumes, runs the init containers in order and then the app containers
side by side. Status is pushed to the API server whenever something a user would see changes.
When the pod is deleted its containers get SIGTERM, the grace period, SIGKILL, and the pod
object is then removed, as a kubelet does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelship.devcluster.kubeapi import ApiError
from modelship.devcluster.node.client import AsyncKubeClient
from modelship.devcluster.node.container import ContainerRuntime
from modelship.devcluster.node.context import now, wait_event
from modelship.devcluster.node.events import EventRecorder
from modelship.devcluster.node.launch import HOST_IP, LaunchPlanner, NodeSettings
from modelship.devcluster.node.plan import LaunchPlan
from modelship.devcluster.node.pusher import StatusPusher
from modelship.devcluster.node.spec import PermanentPodError, check_image
from modelship.devcluster.node.status import PodProgress, pod_status
from modelship.devcluster.node.volumes import check_volumes

JSON = dict[str, Any]
log = logging.getLogger(__name__)


class PodRunner:
    def __init__(
        self, client: AsyncKubeClient, settings: NodeSettings, events: EventRecorder, pod: JSON,
        pod_ip: str, pod_dir: Path, log_dir: Path, netns: str | None = None,
    ) -> None:  # fmt: skip
        self._client = client
        self._events = events
        self._settings = settings
        self.pod = pod
        self.uid = str(pod["metadata"]["uid"])
        self.namespace = str(pod["metadata"]["namespace"])
        self.name = str(pod["metadata"]["name"])
        self.path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"
        self.pod_ip = pod_ip
        self.pod_dir = pod_dir
        self.log_dir = log_dir
        self.python = settings.python
        self.backoff_base = settings.backoff_base
        self.backoff_cap = settings.backoff_cap
        self.termination_grace = float(pod["spec"].get("terminationGracePeriodSeconds", 30))
        self._stopping = asyncio.Event()
        self._planner = LaunchPlanner(client, settings, pod_dir, pod_ip, netns)
        self._pusher = StatusPusher(client, self.path, self.status, self._pushed)
        spec = pod["spec"]
        self.init_containers = [ContainerRuntime(c, self, self._stopping)
                                for c in spec.get("initContainers") or []]  # fmt: skip
        self.containers = [ContainerRuntime(c, self, self._stopping) for c in spec["containers"]]
        self._progress = PodProgress(initialized=not self.init_containers)
        self._start_time = now()
        self._tasks: list[asyncio.Task[Any]] = []
        self.deleting = False
        self.done = asyncio.Event()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._pusher.run())]
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        if deadline is not None:
            self._tasks.append(asyncio.create_task(self._enforce_deadline(float(deadline))))
        self.changed()

    def changed(self) -> None:
        self._pusher.changed()

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        self._events.pod_event(self.pod, reason, message, warning)

    def update(self, pod: JSON) -> None:
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp") and not self.deleting:
            self.deleting = True
            grace = pod["metadata"].get("deletionGracePeriodSeconds")
            grace = self.termination_grace if grace is None else float(grace)
            self._tasks.append(asyncio.create_task(self._terminate(grace)))

    # -- running --------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            for container in [*self.init_containers, *self.containers]:
                check_image(str(container.spec.get("image", "")), self._settings.images)
            check_volumes(self.pod)
            policy = self.pod["spec"].get("restartPolicy", "Always")
            init_policy = "Never" if policy == "Never" else "OnFailure"
            for init in self.init_containers:
                code = await init.supervise(init_policy)
                if self._stopping.is_set():
                    return
                if code != 0:
                    self._progress.init_failed = True
                    self.changed()
                    return
            self._progress.initialized = True
            self.changed()
            await asyncio.gather(*(c.supervise(policy) for c in self.containers))
        except PermanentPodError as error:
            self._reject(error)
        except Exception:
            log.exception("pod %s/%s failed on the node", self.namespace, self.name)
            self._reject(PermanentPodError("NodeError", "the local node failed to run this pod; "
                                           "see the node agent's log"))  # fmt: skip

    def _reject(self, error: PermanentPodError) -> None:
        self._progress.rejection = error
        self.event(error.reason, error.message, warning=True)
        containers = [*self.init_containers, *self.containers]
        for container in containers:
            if container.proc is None:
                container.will_restart = False
                container.set_waiting(error.reason, error.message)
        if any(c.proc is not None for c in containers):
            # A sibling cannot run as specified, so neither does the pod: stop what runs.
            self._tasks.append(asyncio.create_task(self.stop(self.termination_grace)))
        self.changed()

    async def build_plan(self, container: Mapping[str, Any], error_file: Path) -> LaunchPlan:
        return await self._planner.plan(self.pod, container, error_file)

    # -- stopping -------------------------------------------------------------------------

    async def stop(self, grace: float) -> None:
        """Stop every container (SIGTERM, grace, SIGKILL) and wait for the pod's tasks."""
        self._stopping.set()
        containers = [*self.init_containers, *self.containers]
        await asyncio.gather(*(c.stop(grace) for c in containers))
        if self._tasks:
            await asyncio.wait([self._tasks[0]], timeout=grace + 5)

    async def _enforce_deadline(self, seconds: float) -> None:
        """spec.activeDeadlineSeconds: stop the pod for good and fail it, as a kubelet does."""
        if await wait_event(self._stopping, seconds) or self._tasks[0].done():
            return  # stopped, or every container already finished for good
        self.event("DeadlineExceeded", "Pod was active on the node longer than the deadline", True)
        await self.stop(self.termination_grace)
        self._progress.deadline_exceeded = True
        self.changed()

    async def _terminate(self, grace: float) -> None:
        if any(c.proc is not None for c in [*self.init_containers, *self.containers]):
            self.event("Killing", f"Stopping the pod's containers (grace period {grace:.0f}s)")
        await self.stop(grace)
        await self._pusher.push_once()
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": self.uid}}  # fmt: skip
        try:
            await self._client.delete(self.path, body)
        except ApiError as error:
            log.warning("deleting pod %s/%s: %s", self.namespace, self.name, error)
        self.done.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- status ---------------------------------------------------------------------------

    def status(self) -> JSON:
        return pod_status(
            self.pod, self._progress, self.containers, self.init_containers,
            (HOST_IP, self.pod_ip), self._start_time, now(),
        )  # fmt: skip

    def _pushed(self, status: JSON) -> None:
        """The status the API server stored: later conditions keep its transition times."""
        self.pod = {**self.pod, "status": status}
