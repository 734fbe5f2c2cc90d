"""Reading the ConfigMaps, Secrets and claims a pod refers to, with kubelet-style errors.

A missing object is a `ConfigError` (the pod waits and is retried, as a kubelet does), unless
the reference is `optional`, in which case it reads as empty.
"""

from __future__ import annotations

import base64

from modelship.devcluster.kubeapi import JSON
from modelship.devcluster.node.client import AsyncKubeClient
from modelship.devcluster.node.spec import ConfigError


class ObjectReader:
    """ConfigMap and Secret data of one namespace as bytes, fetched fresh for each start."""

    def __init__(self, client: AsyncKubeClient, namespace: str) -> None:
        self._client = client
        self._namespace = namespace

    async def configmap(self, name: str, optional: bool = False) -> dict[str, bytes] | None:
        body = await self._get("configmaps", name, optional)
        if body is None:
            return None
        data = {k: v.encode() for k, v in (body.get("data") or {}).items()}
        binary = {k: base64.b64decode(v) for k, v in (body.get("binaryData") or {}).items()}
        return {**data, **binary}

    async def secret(self, name: str, optional: bool = False) -> dict[str, bytes] | None:
        body = await self._get("secrets", name, optional)
        if body is None:
            return None
        return {k: base64.b64decode(v) for k, v in (body.get("data") or {}).items()}

    async def _get(self, plural: str, name: str, optional: bool) -> JSON | None:
        kind = plural[:-1]
        body = await self._client.get_or_none(
            f"/api/v1/namespaces/{self._namespace}/{plural}/{name}"
        )
        if body is None and not optional:
            raise ConfigError(f'{kind} "{name}" not found')
        return body
