"""Pod volumes as host directories, later bind-mounted where the containers expect them.

emptyDir is a per-pod directory; configMap, secret, downwardAPI and projected volumes are files
written into one; a persistentVolumeClaim is the host directory of the PersistentVolume bound to
it (shared by every pod that mounts the claim); hostPath is itself. Anything else fails the pod
with a reason instead of running it without its data.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelship.devcluster.node.client import AsyncKubeClient
from modelship.devcluster.node.objects import ObjectReader
from modelship.devcluster.node.spec import ConfigError, PermanentPodError, field_ref

SUPPORTED = ("emptyDir", "configMap", "secret", "persistentVolumeClaim", "hostPath",
             "downwardAPI", "projected")  # fmt: skip
TOKEN_SECONDS = 7 * 24 * 3600  # projected tokens are not refreshed; a dev pod rarely lives longer


@dataclass(frozen=True)
class HostVolume:
    path: Path
    read_only: bool


def check_volumes(pod: Mapping[str, Any]) -> None:
    """Fail early (permanently) on a volume type the local node cannot provide."""
    for volume in pod["spec"].get("volumes") or []:
        kinds = [key for key in volume if key != "name"]
        if not any(kind in SUPPORTED for kind in kinds):
            raise PermanentPodError(
                "UnsupportedVolume",
                f"volume {volume['name']!r} of type {', '.join(kinds) or '?'} is not supported on "
                f"the local node (supported: {', '.join(SUPPORTED)})",
            )


class VolumePreparer:
    """Creates the host side of every volume of one pod."""

    def __init__(
        self, client: AsyncKubeClient, pod: Mapping[str, Any], pod_dir: Path, pod_ip: str
    ) -> None:
        self._client = client
        self._pod = pod
        self._namespace = pod["metadata"]["namespace"]
        self._reader = ObjectReader(client, self._namespace)
        self._dir = pod_dir / "volumes"
        self._pod_ip = pod_ip

    async def prepare(self) -> dict[str, HostVolume]:
        volumes = {}
        for volume in self._pod["spec"].get("volumes") or []:
            volumes[volume["name"]] = await self._prepare(volume)
        return volumes

    async def _prepare(self, volume: Mapping[str, Any]) -> HostVolume:
        name = volume["name"]
        target = self._dir / name
        if "emptyDir" in volume:
            return HostVolume(_host_path({"path": str(target), "type": "DirectoryOrCreate"}), False)
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]
            return HostVolume(
                await self._claim_path(claim["claimName"]), bool(claim.get("readOnly"))
            )
        if "hostPath" in volume:
            return HostVolume(_host_path(volume["hostPath"]), False)
        files: dict[str, tuple[bytes, int]] = {}
        if "projected" in volume:
            mode = volume["projected"].get("defaultMode", 0o644)
            for source in volume["projected"].get("sources") or []:
                files.update(await self._files(source, mode))
        else:
            kind = next(k for k in ("configMap", "secret", "downwardAPI") if k in volume)
            files = await self._files({kind: volume[kind]}, volume[kind].get("defaultMode", 0o644))
        _write_files(target, files)
        return HostVolume(target, True)

    async def _files(self, source: Mapping[str, Any], mode: int) -> dict[str, tuple[bytes, int]]:
        if "configMap" in source or "secret" in source:
            kind = "configMap" if "configMap" in source else "secret"
            ref = source[kind]
            optional = bool(ref.get("optional"))
            if kind == "configMap":
                data = await self._reader.configmap(ref["name"], optional)
            else:
                data = await self._reader.secret(ref.get("secretName") or ref["name"], optional)
            return _select_items(data or {}, ref.get("items"), mode, optional)
        if "downwardAPI" in source:
            items = source["downwardAPI"].get("items") or []
            return {
                item["path"]: (
                    field_ref(
                        self._pod, item["fieldRef"]["fieldPath"], self._pod_ip, "127.0.0.1"
                    ).encode(),
                    item.get("mode", mode),
                )
                for item in items
                if "fieldRef" in item
            }
        if "serviceAccountToken" in source:
            spec = source["serviceAccountToken"]
            token = await self._request_token(spec.get("audience"), spec.get("expirationSeconds"))
            return {spec["path"]: (token.encode(), mode)}
        raise PermanentPodError("UnsupportedVolume", f"projected source {sorted(source)}")

    async def _request_token(self, audience: str | None, seconds: int | None) -> str:
        metadata = self._pod["metadata"]
        account = self._pod["spec"].get("serviceAccountName") or "default"
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [audience] if audience else [],
                "expirationSeconds": max(int(seconds or 0), TOKEN_SECONDS),
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                                   "name": metadata["name"], "uid": metadata["uid"]},
            },
        }  # fmt: skip
        path = f"/api/v1/namespaces/{self._namespace}/serviceaccounts/{account}/token"
        return str((await self._client.post(path, body))["status"]["token"])

    async def _claim_path(self, claim_name: str) -> Path:
        claim = await self._client.get_or_none(
            f"/api/v1/namespaces/{self._namespace}/persistentvolumeclaims/{claim_name}"
        )
        if claim is None:
            raise ConfigError(f'persistentvolumeclaim "{claim_name}" not found')
        volume_name = claim["spec"].get("volumeName")
        if claim.get("status", {}).get("phase") != "Bound" or not volume_name:
            raise ConfigError(f'persistentvolumeclaim "{claim_name}" is not bound yet')
        volume = await self._client.get(f"/api/v1/persistentvolumes/{volume_name}")
        host_path = (volume["spec"].get("hostPath") or volume["spec"].get("local") or {}).get(
            "path"
        )
        if not host_path:
            raise PermanentPodError(
                "UnsupportedVolume",
                f"persistentvolume {volume_name} has no hostPath/local path the node can mount",
            )
        return _host_path({"path": host_path, "type": "DirectoryOrCreate"})


def _host_path(source: Mapping[str, Any]) -> Path:
    path = Path(source["path"])
    if source.get("type") == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        raise ConfigError(f"hostPath {path} does not exist")
    return path


def _select_items(
    data: Mapping[str, bytes], items: list[Mapping[str, Any]] | None, mode: int, optional: bool
) -> dict[str, tuple[bytes, int]]:
    if not items:
        return {key: (value, mode) for key, value in data.items()}
    selected = {}
    for item in items:
        if item["key"] not in data:
            if optional:
                continue
            raise ConfigError(f"key {item['key']} not found")
        selected[item["path"]] = (data[item["key"]], item.get("mode", mode))
    return selected


def _write_files(target: Path, files: Mapping[str, tuple[bytes, int]]) -> None:
    """Replace the directory's contents with exactly these files."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for relative, (content, mode) in files.items():
        path = target / relative
        if not path.resolve().is_relative_to(target.resolve()):
            raise PermanentPodError(
                "InvalidVolumePath", f"volume path {relative!r} leaves the volume"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.chmod(path, mode)
