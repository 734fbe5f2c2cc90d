"""A very small REST client for the dev cluster's own needs.

The dev cluster and its node talk to the API server with plain JSON over httpx: they handle
objects as dicts, need only a handful of verbs, and must not depend on the generated client's
models (which lag behind the API server in odd places). Operator code uses its own client layer;
this one serves `devcluster` only.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from modelship.devcluster.kubeconfig import read_kubeconfig

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"


class ApiError(RuntimeError):
    """A non-2xx answer; `status` is the HTTP status code, `reason` the Status reason."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ApiEndpoint:
    """Where the API server is and how to authenticate to it."""

    server: str
    ca_pem: bytes
    token: str

    @classmethod
    def from_kubeconfig(cls, path: Path) -> ApiEndpoint:
        return cls(*read_kubeconfig(path))

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca_pem.decode())

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}


def raise_for_status(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
        reason, message = str(body.get("reason", "")), str(body.get("message", response.text))
    except ValueError:
        reason, message = "", response.text
    raise ApiError(response.status_code, reason, message)


class KubeClient:
    """Synchronous client: what `DevCluster` needs to wait for readiness and install CRDs."""

    def __init__(self, endpoint: ApiEndpoint, timeout: float = 10.0) -> None:
        self._http = httpx.Client(
            base_url=endpoint.server,
            verify=endpoint.ssl_context(),
            headers=endpoint.headers(),
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get_text(self, path: str) -> str:
        response = self._http.get(path)
        raise_for_status(response)
        return response.text

    def get(self, path: str, params: Mapping[str, str] | None = None) -> JSON:
        response = self._http.get(path, params=params)
        raise_for_status(response)
        return dict(response.json())

    def post(self, path: str, body: JSON) -> JSON:
        response = self._http.post(path, json=body)
        raise_for_status(response)
        return dict(response.json())

    def put(self, path: str, body: JSON) -> JSON:
        response = self._http.put(path, json=body)
        raise_for_status(response)
        return dict(response.json())

    def patch(self, path: str, body: JSON) -> JSON:
        response = self._http.patch(path, json=body, headers={"Content-Type": MERGE_PATCH})
        raise_for_status(response)
        return dict(response.json())

    def delete(self, path: str, params: Mapping[str, str] | None = None) -> None:
        response = self._http.delete(path, params=params)
        if response.status_code != 404:
            raise_for_status(response)
