"""How each start of a pod's container is planned: environment, argv and mounts.

The pod's volumes are prepared once, at the first start; everything else is resolved afresh for
every start, so a restarted container sees a ConfigMap or Secret as it is now, as on a kubelet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelship.devcluster.coredns import pod_resolv_conf
from modelship.devcluster.node.client import AsyncKubeClient
from modelship.devcluster.node.envvars import node_env, resolve_env
from modelship.devcluster.node.objects import ObjectReader
from modelship.devcluster.node.plan import LaunchPlan, Mount, kept_paths
from modelship.devcluster.node.spec import PermanentPodError, base_env, build_argv
from modelship.devcluster.node.volumes import HostVolume, VolumePreparer

JSON = dict[str, Any]
HOST_IP = "127.0.0.1"


@dataclass(frozen=True)
class NodeSettings:
    """What every pod on this node shares."""

    api_host: str
    api_port: int
    python: str
    images: tuple[str, ...]
    backoff_base: float
    backoff_cap: float
    cluster_dns: str | None = None
    keep: list[str] = field(default_factory=kept_paths)


class LaunchPlanner:
    """Plans the starts of one pod's containers."""

    def __init__(
        self,
        client: AsyncKubeClient,
        settings: NodeSettings,
        pod_dir: Path,
        pod_ip: str,
        netns: str | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._pod_dir = pod_dir
        self._pod_ip = pod_ip
        self._netns = netns
        self._volumes: dict[str, HostVolume] | None = None

    async def plan(self, pod: JSON, container: Mapping[str, Any], error_file: Path) -> LaunchPlan:
        """Environment, argv and mounts for one start of a container (fresh each time)."""
        settings, meta = self._settings, pod["metadata"]
        if self._volumes is None:
            preparer = VolumePreparer(self._client, pod, self._pod_dir, self._pod_ip)
            self._volumes = await preparer.prepare()
        extra = node_env(settings.api_host, settings.api_port, self._pod_ip, meta["name"])
        start = base_env(None, settings.python, extra)
        reader = ObjectReader(self._client, meta["namespace"])
        env = await resolve_env(pod, container, reader, start, self._pod_ip, HOST_IP)
        argv = build_argv(container, env, settings.python)
        mounts = [self._mount(m, self._volumes) for m in container.get("volumeMounts") or []]
        message_file = self._pod_dir / "containers" / container["name"] / "termination-log"
        target = container.get("terminationMessagePath") or "/dev/termination-log"
        mounts.append(Mount(str(message_file), target, False))
        resolv = self._resolv_conf(pod)
        if resolv is not None:
            mounts.append(Mount(str(resolv), "/etc/resolv.conf", True))
        cwd = container.get("workingDir") or str(self._pod_dir / "work")
        return LaunchPlan(argv, env, cwd, mounts, str(error_file), settings.keep, self._netns)

    def _resolv_conf(self, pod: JSON) -> Path | None:
        """The pod's /etc/resolv.conf, as a kubelet writes it for its `dnsPolicy`; None keeps
        the machine's (policy `Default`, or a cluster without DNS)."""
        content = pod_resolv_conf(pod, self._settings.cluster_dns)
        if content is None:
            return None
        path = self._pod_dir / "resolv.conf"
        if not path.exists() or path.read_text() != content:
            self._pod_dir.mkdir(parents=True, exist_ok=True)  # a pod without volumes has none yet
            path.write_text(content)
        return path

    @staticmethod
    def _mount(mount: Mapping[str, Any], volumes: Mapping[str, HostVolume]) -> Mount:
        volume = volumes.get(mount["name"])
        if volume is None:
            raise PermanentPodError("InvalidVolumeMount", f"no volume named {mount['name']!r}")
        source = volume.path / mount["subPath"] if mount.get("subPath") else volume.path
        if mount.get("subPath") and not source.exists():
            source.mkdir(parents=True)
        read_only = bool(mount.get("readOnly")) or volume.read_only
        return Mount(str(source), str(mount["mountPath"]), read_only)
