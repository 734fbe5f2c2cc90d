"""Readiness probes of the local cluster's components, and the one wait that polls them.

A component that exits while we wait fails the wait at once with the end of its log, so a
broken binary or a port in use reads as what it is, not as a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from modelship.devcluster import processes
from modelship.devcluster.kubeapi import ApiError, KubeClient
from modelship.devcluster.processes import ProcessRecord


class DevClusterError(RuntimeError):
    """The cluster did not come up; the message names the component and quotes its log."""


def wait_until(record: ProcessRecord, ready: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `ready` until true; fail early, quoting the log, when the process exits."""
    deadline = time.monotonic() + timeout
    while True:
        if not processes.is_alive(record):
            raise DevClusterError(f"{record.name} exited before {what}; {log_tail(record)}")
        try:
            if ready():
                return
        except (httpx.HTTPError, ApiError, OSError):
            pass
        if time.monotonic() > deadline:
            raise DevClusterError(f"timed out after {timeout:.0f}s waiting until {what}; "
                                  f"{log_tail(record)}")  # fmt: skip
        time.sleep(0.2)


def log_tail(record: ProcessRecord, lines: int = 15) -> str:
    try:
        tail = Path(record.log).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        tail = []
    return f"last lines of {record.log}:\n" + "\n".join(tail)


def etcd_healthy(port: int) -> bool:
    response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0)
    return response.status_code == 200 and response.json().get("health") == "true"


def api_ready(client: KubeClient) -> bool:
    return client.get_text("/readyz") == "ok"


def pods_admissible(client: KubeClient) -> bool:
    """A pod is admitted once its ServiceAccount exists, and starts once the CA ConfigMap its
    projected token volume names is there; both come from the controller manager."""
    client.get("/api/v1/namespaces/default/serviceaccounts/default")
    client.get("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
    return True


def node_ready(client: KubeClient) -> bool:
    nodes = client.get("/api/v1/nodes").get("items", [])
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for node in nodes
        for c in node.get("status", {}).get("conditions", [])
    )
