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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelship.devcluster.kubeapi import ApiError
from modelship.devcluster.node.client import AsyncKubeClient
from modelship.devcluster.node.container import ContainerRuntime, now, wait_event
from modelship.devcluster.node.envvars import node_env, resolve_env
from modelship.devcluster.node.events import EventRecorder
from modelship.devcluster.node.objects import ObjectReader
from modelship.devcluster.node.plan import LaunchPlan, Mount, kept_paths
from modelship.devcluster.node.spec import (
    PermanentPodError,
    base_env,
    build_argv,
    check_image,
)
from modelship.devcluster.node.status import conditions, not_ready_names, phase
from modelship.devcluster.node.volumes import HostVolume, VolumePreparer, check_volumes

JSON = dict[str, Any]
HOST_IP = "127.0.0.1"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeSettings:
    """What every pod on this node shares."""

    api_host: str
    api_port: int
    python: str
    images: tuple[str, ...]
    backoff_base: float
    backoff_cap: float
    keep: list[str] = field(default_factory=kept_paths)


class PodRunner:
    def __init__(
        self, client: AsyncKubeClient, settings: NodeSettings, events: EventRecorder, pod: JSON,
        pod_ip: str, pod_dir: Path, log_dir: Path,
    ) -> None:  # fmt: skip
        self._client = client
        self._events = events
        self._settings = settings
        self.pod = pod
        self.uid = str(pod["metadata"]["uid"])
        self.namespace = str(pod["metadata"]["namespace"])
        self.name = str(pod["metadata"]["name"])
        self.pod_ip = pod_ip
        self.pod_dir = pod_dir
        self.log_dir = log_dir
        self.python = settings.python
        self.backoff_base = settings.backoff_base
        self.backoff_cap = settings.backoff_cap
        self.termination_grace = float(pod["spec"].get("terminationGracePeriodSeconds", 30))
        self._stopping = asyncio.Event()
        self._dirty = asyncio.Event()
        spec = pod["spec"]
        self.init_containers = [ContainerRuntime(c, self, self._stopping)
                                for c in spec.get("initContainers") or []]  # fmt: skip
        self.containers = [ContainerRuntime(c, self, self._stopping) for c in spec["containers"]]
        self._initialized = not self.init_containers
        self._init_failed = False
        self._rejection: PermanentPodError | None = None
        self._deadline_exceeded = False
        self._volumes: dict[str, HostVolume] | None = None
        self._start_time = now()
        self._last_pushed: JSON | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.deleting = False
        self.done = asyncio.Event()

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._push_status())]
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        if deadline is not None:
            self._tasks.append(asyncio.create_task(self._enforce_deadline(float(deadline))))
        self.changed()

    def changed(self) -> None:
        self._dirty.set()

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
                    self._init_failed = True
                    self.changed()
                    return
            self._initialized = True
            self.changed()
            await asyncio.gather(*(c.supervise(policy) for c in self.containers))
        except PermanentPodError as error:
            self._reject(error)
        except Exception:
            log.exception("pod %s/%s failed on the node", self.namespace, self.name)
            self._reject(PermanentPodError("NodeError", "the local node failed to run this pod; "
                                           "see the node agent's log"))  # fmt: skip

    def _reject(self, error: PermanentPodError) -> None:
        self._rejection = error
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
        """Environment, argv and mounts for one start of a container (fresh each time)."""
        settings = self._settings
        if self._volumes is None:
            preparer = VolumePreparer(self._client, self.pod, self.pod_dir, self.pod_ip)
            self._volumes = await preparer.prepare()
        extra = node_env(settings.api_host, settings.api_port, self.pod_ip, self.name)
        start = base_env(None, settings.python, extra)
        reader = ObjectReader(self._client, self.namespace)
        env = await resolve_env(self.pod, container, reader, start, self.pod_ip, HOST_IP)
        argv = build_argv(container, env, settings.python)
        mounts = [self._mount(m) for m in container.get("volumeMounts") or []]
        message_file = self.pod_dir / "containers" / container["name"] / "termination-log"
        target = container.get("terminationMessagePath") or "/dev/termination-log"
        mounts.append(Mount(str(message_file), target, False))
        cwd = container.get("workingDir") or str(self.pod_dir / "work")
        return LaunchPlan(argv, env, cwd, mounts, str(error_file), self._settings.keep)

    def _mount(self, mount: Mapping[str, Any]) -> Mount:
        assert self._volumes is not None
        volume = self._volumes.get(mount["name"])
        if volume is None:
            raise PermanentPodError("InvalidVolumeMount", f"no volume named {mount['name']!r}")
        source = volume.path / mount["subPath"] if mount.get("subPath") else volume.path
        if mount.get("subPath") and not source.exists():
            source.mkdir(parents=True)
        read_only = bool(mount.get("readOnly")) or volume.read_only
        return Mount(str(source), str(mount["mountPath"]), read_only)

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
        self._deadline_exceeded = True
        self.changed()

    async def _terminate(self, grace: float) -> None:
        if any(c.proc is not None for c in [*self.init_containers, *self.containers]):
            self.event("Killing", f"Stopping the pod's containers (grace period {grace:.0f}s)")
        await self.stop(grace)
        await self._push_once()
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
        rejected = self._rejection
        policy = self.pod["spec"].get("restartPolicy", "Always")
        if self._deadline_exceeded:
            rejected = PermanentPodError(
                "DeadlineExceeded",
                f"Pod was active on the node longer than the specified deadline "
                f"({self.pod['spec']['activeDeadlineSeconds']}s)",
            )
            pod_phase = "Failed"
        elif rejected is not None and policy != "Always":
            pod_phase = "Failed"
        else:
            pod_phase = phase(self.containers, self._initialized, self._init_failed)
        ready = pod_phase == "Running" and not not_ready_names(self.containers)
        reason = "PodCompleted" if pod_phase in ("Succeeded", "Failed") else "ContainersNotReady"
        previous = self.pod.get("status", {}).get("conditions") or []
        status: JSON = {
            "phase": pod_phase,
            "conditions": conditions(previous, self._initialized, ready, now(), reason),
            "hostIP": HOST_IP,
            "podIP": self.pod_ip,
            "podIPs": [{"ip": self.pod_ip}],
            "startTime": self.pod.get("status", {}).get("startTime") or self._start_time,
            "containerStatuses": [c.status() for c in self.containers],
            "reason": rejected.reason if rejected and pod_phase == "Failed" else None,
            "message": rejected.message if rejected and pod_phase == "Failed" else None,
        }
        if self.init_containers:
            status["initContainerStatuses"] = [c.status() for c in self.init_containers]
        return status

    async def _push_status(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.05)  # coalesce bursts (a container start changes three things)
            self._dirty.clear()
            try:
                await self._push_once()
            except ApiError as error:
                if error.status == 404:
                    return
                log.warning("status of %s/%s: %s", self.namespace, self.name, error)
                self._dirty.set()
                await asyncio.sleep(1)

    async def _push_once(self) -> None:
        status = self.status()
        comparable = {k: v for k, v in status.items() if k != "conditions"}
        comparable["conditions"] = [(c["type"], c["status"]) for c in status["conditions"]]
        if comparable == self._last_pushed:
            return
        updated = await self._client.patch(f"{self.path}/status", {"status": status})
        self.pod = {**self.pod, "status": updated.get("status", {})}
        self._last_pushed = comparable
