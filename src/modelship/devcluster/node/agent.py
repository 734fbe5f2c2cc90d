"""The node agent: registers the Node, runs the pods bound to it, provisions volumes.

One asyncio loop. It wakes on any pod event (a watch used only as a doorbell) or every second,
lists pods, hands each pod kube-scheduler bound to this node to a `PodRunner`, and forgets
runners whose pod is gone. On SIGTERM it stops every pod process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from modelship.devcluster.kubeapi import JSON, ApiEndpoint, ApiError
from modelship.devcluster.layout import DevLayout
from modelship.devcluster.node.client import AsyncKubeClient
from modelship.devcluster.node.context import now, wait_event
from modelship.devcluster.node.events import EventRecorder
from modelship.devcluster.node.launch import NodeSettings
from modelship.devcluster.node.logfiles import pod_log_dir
from modelship.devcluster.node.logserver import LogServer
from modelship.devcluster.node.network import PodNetwork
from modelship.devcluster.node.nodeobject import node_object, node_status
from modelship.devcluster.node.pod import PodRunner
from modelship.devcluster.node.provisioner import Provisioner
from modelship.devcluster.octets import kept_octet
from modelship.devcluster.ports import free_ports

log = logging.getLogger(__name__)
TERMINAL = ("Succeeded", "Failed")
SHUTDOWN_GRACE = 10.0  # per pod when the whole node stops; `dev down` waits longer than this


@dataclass(frozen=True)
class AgentConfig:
    node_name: str
    layout: DevLayout
    kubeconfig: Path
    settings: NodeSettings
    heartbeat_seconds: float = 10.0
    resync_seconds: float = 1.0


def subnet_octet(layout: DevLayout) -> int:
    """The cluster's /16 (`10.<n>.0.0`), chosen once (by `up`, or here) and kept."""
    return kept_octet(layout.root)


class NodeAgent:
    def __init__(self, config: AgentConfig) -> None:
        self._config = config
        self._client = AsyncKubeClient(ApiEndpoint.from_kubeconfig(config.kubeconfig))
        self._runners: dict[str, PodRunner] = {}
        self._addresses = PodNetwork(subnet_octet(config.layout))
        self._provisioner = Provisioner(self._client, config.layout.volumes)
        self._events = EventRecorder(self._client, config.node_name)
        self._wake = asyncio.Event()
        self._since = now()
        self._log_port = free_ports(1)[0]
        self._version = "unknown"

    def _runs_here(self, namespace: str, name: str) -> bool:
        return any(r.namespace == namespace and r.name == name for r in self._runners.values())

    async def run(self, stop: asyncio.Event) -> None:
        name = self._config.node_name
        # The node reports the control plane's release as its own, as a kubelet of it would.
        self._version = str((await self._client.get("/version"))["gitVersion"])
        try:
            await self._client.post("/api/v1/nodes", node_object(name))
        except ApiError as error:
            if error.status != 409:
                raise
        server = await LogServer(self._config.layout, self._runs_here).start(self._log_port)
        await self._heartbeat_once()
        await self._provisioner.install_storage_class()
        background = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._doorbell())]
        log.info("node %s ready", name)
        try:
            while not stop.is_set():
                try:
                    await self._sync()
                except Exception:
                    log.exception("sync failed; retrying")
                self._wake.clear()
                await wait_event(self._wake, self._config.resync_seconds)
        finally:
            for task in background:
                task.cancel()
            server.close()
            await self._shutdown()
            self._addresses.close()
            await self._client.aclose()

    async def _shutdown(self) -> None:
        runners = list(self._runners.values())
        await asyncio.gather(*(r.stop(SHUTDOWN_GRACE) for r in runners), return_exceptions=True)
        await asyncio.gather(*(r.close() for r in runners), return_exceptions=True)

    async def _heartbeat_once(self) -> None:
        status = node_status(
            self._config.node_name, now(), self._since, self._log_port, self._version
        )
        await self._client.patch(
            f"/api/v1/nodes/{self._config.node_name}/status", {"status": status}
        )

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._config.heartbeat_seconds)
            with contextlib.suppress(Exception):
                await self._heartbeat_once()

    async def _doorbell(self) -> None:
        """Ring on every pod event so the loop reacts at once rather than on the next tick."""
        while True:
            try:
                async for _ in self._client.watch_lines("/api/v1/pods"):
                    self._wake.set()
            except Exception as error:  # the loop keeps working on its tick meanwhile
                log.debug("pod watch ended: %s", error)
            await asyncio.sleep(1)

    async def _sync(self) -> None:
        pods = (await self._client.get("/api/v1/pods"))["items"]
        seen = set()
        for pod in pods:
            if pod["spec"].get("nodeName") == self._config.node_name:
                seen.add(pod["metadata"]["uid"])
                await self._track(pod)
        for uid in [uid for uid in self._runners if uid not in seen]:
            await self._forget(uid)
        await self._provisioner.sync()

    async def _track(self, pod: JSON) -> None:
        meta = pod["metadata"]
        runner = self._runners.get(meta["uid"])
        if runner is not None:
            runner.update(pod)
            return
        if meta.get("deletionTimestamp"):
            # Nothing of it runs here (any more): finish the deletion like a kubelet would.
            path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
            await self._client.delete(path, {"gracePeriodSeconds": 0,
                                             "preconditions": {"uid": meta["uid"]}})  # fmt: skip
            return
        if pod.get("status", {}).get("phase") in TERMINAL:
            return
        layout = self._config.layout
        log_dir = pod_log_dir(layout, meta["namespace"], meta["name"], meta["uid"])
        address = self._addresses.allocate()
        runner = PodRunner(
            self._client, self._config.settings, self._events, pod, address.ip,
            layout.pods / meta["uid"], log_dir, address.netns,
        )  # fmt: skip
        self._runners[meta["uid"]] = runner
        log.info("starting pod %s/%s at %s", meta["namespace"], meta["name"], runner.pod_ip)
        runner.start()

    async def _forget(self, uid: str) -> None:
        runner = self._runners.pop(uid)
        await runner.stop(2.0)
        await runner.close()
        self._addresses.release(runner.pod_ip)
        self._events.forget(uid)
        shutil.rmtree(runner.pod_dir, ignore_errors=True)
        log.info("pod %s/%s is gone", runner.namespace, runner.name)
