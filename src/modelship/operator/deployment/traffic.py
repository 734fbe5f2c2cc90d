"""Reads the live traffic figures a canary analysis and a shadow report are judged on.

The server's counters are cumulative, so a window needs a reading at its start (the baseline)
and one at its end. Baselines are process state, kept here (in Kopf's memo through the startup
handler): an operator that restarts mid-window has none, and that window is then inconclusive —
it waits and never passes, exactly like a window without enough traffic.

Pods are read at their addresses (in-cluster, and on the local cluster whose pods listen on host
loopback addresses), with the same short timeout as drift reads; a pod that cannot be read is
named in the verdict rather than silently left out.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx

from modelship.api.v1alpha1 import utcnow
from modelship.api.v1alpha1.progressive import AnalysisResult, AnalysisThresholds
from modelship.contracts.routing import ROUTER_PORT
from modelship.operator.deployment.analysis import judge_window
from modelship.operator.deployment.builders.stages import SERVING_PORT
from modelship.operator.deployment.rollout import PodState
from modelship.operator.deployment.scrape import (
    ScrapeError,
    ShadowCounts,
    TrafficCounts,
    parse_in_flight,
    parse_shadow,
    parse_traffic,
    total,
)

WindowKey = tuple[str, str, int, int, str]
"""(namespace, deployment, canary version, step, window start)."""


@dataclass(frozen=True)
class Readings:
    counts: dict[str, TrafficCounts]
    errors: list[str]


class TrafficReader:
    """Scrapes `/metrics` of serving and router pods; remembers each window's baseline."""

    def __init__(self, timeout: float) -> None:
        self._http = httpx.Client(timeout=timeout)
        self._baselines: dict[WindowKey, dict[str, TrafficCounts]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def start_window(self, key: WindowKey, pods: list[PodState]) -> None:
        """Take the baseline of a window, once (later calls for the same window do nothing)."""
        with self._lock:
            if key in self._baselines:
                return
        readings = self._read(pods)
        with self._lock:
            # One window per Deployment at a time: older baselines of it are of no more use.
            for old in [k for k in self._baselines if k[:2] == key[:2]]:
                del self._baselines[old]
            self._baselines[key] = readings.counts

    def judge(
        self,
        key: WindowKey,
        stable: list[PodState],
        canary: list[PodState],
        thresholds: AnalysisThresholds,
        min_requests: int,
    ) -> AnalysisResult:
        """The verdict on the window `key` that has just closed."""
        step = key[3]
        with self._lock:
            baseline = self._baselines.pop(key, None)
        if baseline is None:
            return AnalysisResult(
                step=step,
                outcome="Inconclusive",
                at=utcnow(),
                message="no reading at the start of this window (the operator started during "
                "it); a new window begins",
            )
        missing = [
            f"no ready {side} pod"
            for side, pods in (("stable", stable), ("canary", canary))
            if not pods
        ]
        stable_now, canary_now = self._read(stable), self._read(canary)
        errors = missing + stable_now.errors + canary_now.errors
        if errors:
            return AnalysisResult(
                step=step, outcome="Inconclusive", at=utcnow(), message="; ".join(errors)[:500]
            )
        stable_window = total(c.since(baseline.get(p)) for p, c in stable_now.counts.items())
        canary_window = total(c.since(baseline.get(p)) for p, c in canary_now.counts.items())
        return judge_window(step, stable_window, canary_window, thresholds, min_requests)

    def shadow(self, routers: list[PodState]) -> tuple[ShadowCounts, list[str]]:
        """The shadow figures summed over the router pods, and the pods that could not be read."""
        result, errors = ShadowCounts(), []
        for pod in routers:
            try:
                result = result + parse_shadow(self._text(pod, ROUTER_PORT))
            except ScrapeError as error:
                errors.append(f"{pod.name}: {error}")
        return result, errors

    def in_flight(self, pods: list[PodState]) -> tuple[float, int, list[str]]:
        """The in-flight requests summed over `pods`, how many pods were read, and failures."""
        concurrency, read, errors = 0.0, 0, []
        for pod in pods:
            try:
                concurrency += parse_in_flight(self._text(pod, SERVING_PORT))
                read += 1
            except ScrapeError as error:
                errors.append(f"{pod.name}: {error}")
        return concurrency, read, errors

    def _read(self, pods: list[PodState]) -> Readings:
        counts: dict[str, TrafficCounts] = {}
        errors: list[str] = []
        for pod in pods:
            try:
                counts[pod.name] = parse_traffic(self._text(pod, SERVING_PORT))
            except ScrapeError as error:
                errors.append(f"{pod.name}: {error}")
        return Readings(counts, errors)

    def _text(self, pod: PodState, port: int) -> str:
        if not pod.ip:
            raise ScrapeError("no pod IP")
        try:
            response = self._http.get(f"http://{pod.ip}:{port}/metrics")
        except httpx.HTTPError as error:
            raise ScrapeError(f"metrics unreadable ({error})") from None
        if response.status_code != 200:
            raise ScrapeError(f"metrics answered HTTP {response.status_code}")
        return response.text
