"""Readiness, liveness and startup probes, run the way a kubelet runs them.

A probe is one check (HTTP GET, TCP connect, or a command run inside the pod's mounts and
environment); `ProbeState` applies the thresholds, so a flaky check does not flip a pod.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

ExecRunner = Callable[[Sequence[str], float], Awaitable[int]]


@dataclass
class ProbeState:
    """Consecutive successes and failures of one probe, judged against its thresholds."""

    spec: Mapping[str, Any]
    successes: int = 0
    failures: int = 0

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds", 10))

    @property
    def initial_delay(self) -> float:
        return float(self.spec.get("initialDelaySeconds", 0))

    def record(self, ok: bool) -> bool | None:
        """True/False once a threshold is crossed, None while undecided."""
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            return True if self.successes >= int(self.spec.get("successThreshold", 1)) else None
        self.successes, self.failures = 0, self.failures + 1
        return False if self.failures >= int(self.spec.get("failureThreshold", 3)) else None


def resolve_port(port: int | str, container: Mapping[str, Any]) -> int:
    """A probe port is a number or the name of one of the container's ports."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"container has no port named {port!r}")


async def check(
    spec: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str, run_exec: ExecRunner
) -> bool:
    """Run the probe's check once."""
    timeout = float(spec.get("timeoutSeconds", 1))
    try:
        if "httpGet" in spec:
            return await _http(spec["httpGet"], container, pod_ip, timeout)
        if "tcpSocket" in spec:
            return await _tcp(spec["tcpSocket"], container, pod_ip, timeout)
        if "exec" in spec:
            return await run_exec(spec["exec"].get("command") or [], timeout) == 0
    except (TimeoutError, OSError, ValueError, httpx.HTTPError):
        return False
    return False


async def _http(
    action: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str, limit: float
) -> bool:
    scheme = str(action.get("scheme", "HTTP")).lower()
    host = action.get("host") or pod_ip
    port = resolve_port(action["port"], container)
    path = action.get("path", "/")
    headers = {h["name"]: h["value"] for h in action.get("httpHeaders") or []}
    async with httpx.AsyncClient(verify=False, timeout=limit) as client:
        response = await client.get(f"{scheme}://{host}:{port}{path}", headers=headers)
    return 200 <= response.status_code < 400


async def _tcp(
    action: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str, limit: float
) -> bool:
    host = action.get("host") or pod_ip
    port = resolve_port(action["port"], container)
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit)
    writer.close()
    await writer.wait_closed()
    return True
