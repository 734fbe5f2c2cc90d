"""PersistentVolumes for claims, the way a local-path provisioner makes them.

The node installs a default StorageClass (`local-path`) whose provisioner is itself. For each
pending claim of that class it creates a hostPath PersistentVolume under the dev directory,
pre-bound to the claim (the real PV controller completes the binding), and when a claim is
deleted it deletes the released volume and its directory (reclaim policy Delete).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from modelship.devcluster.kubeapi import ApiError
from modelship.devcluster.node.client import AsyncKubeClient

JSON = dict[str, Any]
PROVISIONER = "modelship.io/local-path"
STORAGE_CLASS = "local-path"
log = logging.getLogger(__name__)


def storage_class() -> JSON:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def volume_for_claim(claim: JSON, root: Path) -> JSON:
    """A hostPath PersistentVolume pre-bound to the claim."""
    meta, spec = claim["metadata"], claim["spec"]
    requests = spec.get("resources", {}).get("requests", {})
    path = root / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": f"pvc-{meta['uid']}",
            "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
        },
        "spec": {
            "capacity": {"storage": requests.get("storage", "1Gi")},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": spec.get("storageClassName", STORAGE_CLASS),
            "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": meta["namespace"], "name": meta["name"],
                         "uid": meta["uid"]},
        },
    }  # fmt: skip


def wants_volume(claim: JSON, ours: set[str]) -> bool:
    spec = claim["spec"]
    return (
        claim.get("status", {}).get("phase") == "Pending"
        and not spec.get("volumeName")
        and spec.get("storageClassName") in ours
        and not claim["metadata"].get("deletionTimestamp")
    )


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


class Provisioner:
    def __init__(self, client: AsyncKubeClient, root: Path) -> None:
        self._client = client
        self._root = root

    async def install_storage_class(self) -> None:
        try:
            await self._client.post("/apis/storage.k8s.io/v1/storageclasses", storage_class())
        except ApiError as error:
            if error.status != 409:
                raise

    async def sync(self) -> None:
        classes = await self._client.get("/apis/storage.k8s.io/v1/storageclasses")
        ours = {
            c["metadata"]["name"] for c in classes["items"] if c.get("provisioner") == PROVISIONER
        }
        claims = await self._client.get("/api/v1/persistentvolumeclaims")
        volumes = await self._client.get("/api/v1/persistentvolumes")
        existing = {v["metadata"]["name"] for v in volumes["items"]}
        for claim in claims["items"]:
            if wants_volume(claim, ours) and f"pvc-{claim['metadata']['uid']}" not in existing:
                volume = volume_for_claim(claim, self._root)
                _make_dir(Path(volume["spec"]["hostPath"]["path"]))
                try:
                    await self._client.post("/api/v1/persistentvolumes", volume)
                except ApiError as error:
                    if error.status != 409:
                        raise
        for volume in volumes["items"]:
            annotations = volume["metadata"].get("annotations") or {}
            released = volume.get("status", {}).get("phase") in ("Released", "Failed")
            if annotations.get("pv.kubernetes.io/provisioned-by") == PROVISIONER and released:
                path = Path(volume["spec"].get("hostPath", {}).get("path", ""))
                await self._client.delete(f"/api/v1/persistentvolumes/{volume['metadata']['name']}")
                if path.is_relative_to(self._root):
                    shutil.rmtree(path, ignore_errors=True)
                log.info("deleted released volume %s", volume["metadata"]["name"])
