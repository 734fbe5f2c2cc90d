"""Autoscaling on the local cluster: production scales up under load and back down after it.

Production of a Deployment with `autoscaling: {minReplicas: 1, maxReplicas: 3,
targetConcurrency: 0.25}` serves one pod; 12 connections then send requests back to back to
the ready production pods (the way kube-proxy would spread them), which keeps several requests in
flight at once. The operator, reading the pods' in-flight gauges with short windows (stable 10 s,
panic 2 s), scales the apps/v1 Deployment up to its maximum and never above it; once the load
stops it scales back down to one pod. The same spec in hpa mode then hands production to an
autoscaling/v2 HorizontalPodAutoscaler, which the API server accepts field for field and the
real HPA controller reads; the local cluster runs no custom-metrics adapter, so the controller
reports that it cannot get the pods' metric (FailedGetPodsMetric) and scales nothing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import running_operator
from modelship.api.v1alpha1.autoscaling import Autoscaling
from modelship.operator.deployment.builders.hpa import build_hpa
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import (
    APPS_DEPLOYMENTS,
    HPAS_V2,
    MODEL_DEPLOYMENTS,
    MODELS,
)
from support.factories import iris_deployment, iris_model
from support.live import (
    SERVING_PORT,
    approve,
    awaiting_approval,
    condition,
    pod_ips,
    status_of,
    wait_for_status,
)
from support.operator import OperatorProcess
from support.waiting import wait_for

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
CONNECTIONS = 12
AUTOSCALING = {"minReplicas": 1, "maxReplicas": 3, "targetConcurrency": 0.25}
# A hundred rows per request: the gauge counts requests inside the model call (queued for the
# batching thread or predicting), so the load must keep the pods busy there, not in the client.
ROWS = 100
BODY = {
    "inputs": [
        {"name": "input", "datatype": "FP64", "shape": [ROWS, 4], "data": [6.7, 3, 5.2, 2.3] * ROWS}
    ]
}


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator with windows short enough for a test (Knative's defaults are 60 s / 6 s)."""
    yield from running_operator(
        cluster_kubeconfig,
        tmp_path_factory,
        rollout_deadline_seconds="120",
        autoscale_stable_window_seconds="10",
        autoscale_panic_window_seconds="2",
        autoscale_sample_seconds="0.5",
    )


class Load:
    """`CONNECTIONS` clients sending back to back to the production pods, until stopped."""

    def __init__(self, kube: Kube, namespace: str, name: str) -> None:
        self._kube, self._namespace, self._name = kube, namespace, name
        self._targets: list[str] = []
        self._stop = threading.Event()
        self.answered = 0
        self.failures: list[str] = []
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Load:
        self._targets = ready_ips(self._kube, self._namespace, self._name)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    async def _run(self) -> None:
        clients = [asyncio.create_task(self._client(i)) for i in range(CONNECTIONS)]
        while not self._stop.is_set():
            await asyncio.sleep(1)
            try:  # new pods take their share, as behind a Service
                ips = await asyncio.to_thread(ready_ips, self._kube, self._namespace, self._name)
                self._targets = ips or self._targets
            except Exception as error:  # the test's own view failing is not the server's
                print(f"target refresh failed: {error}")
        await asyncio.gather(*clients)

    async def _client(self, index: int) -> None:
        sent = index
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            while not self._stop.is_set():
                targets = self._targets
                url = f"http://{targets[sent % len(targets)]}:{SERVING_PORT}/v2/models/iris/infer"
                sent += 1
                try:
                    answer = await client.post(url, json=BODY)
                except httpx.HTTPError as error:
                    self.failures.append(f"{url}: {type(error).__name__}: {error}")
                    await asyncio.sleep(0.05)
                    continue
                if answer.status_code == 200:
                    self.answered += 1
                else:
                    self.failures.append(f"{url}: HTTP {answer.status_code} {answer.text[:100]}")


def ready_ips(kube: Kube, namespace: str, name: str) -> list[str]:
    """Addresses of the ready production pods: what a Service's endpoints would hold."""
    return pod_ips(kube, namespace, name, "production", ready=True)


def replicas(kube: Kube, namespace: str, name: str) -> int:
    deployment = kube.get(APPS_DEPLOYMENTS, namespace, name)
    assert deployment is not None
    return int(deployment["spec"]["replicas"])


def test_production_scales_up_under_load_and_back_down_after_it(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    name = "iris"
    kube.create(MODELS, namespace, iris_model(name))
    production = {"replicas": 1, "autoscaling": AUTOSCALING}
    kube.create(MODEL_DEPLOYMENTS, namespace, iris_deployment(name, production=production))
    wait = lambda check, timeout=180, what=None: wait_for_status(  # noqa: E731
        kube, MODEL_DEPLOYMENTS, namespace, name, check, timeout, what=what,
        describe=operator.tail,
    )  # fmt: skip
    wait(awaiting_approval(1))
    approve(kube, namespace, name)
    wait(
        lambda s: s.get("phase") == "Serving" and (s.get("autoscaling") or {}).get("samples"),
        what="Serving on one pod, the autoscaler reading it",
    )
    assert replicas(kube, namespace, name) == 1

    seen: list[int] = []
    started = time.monotonic()
    with Load(kube, namespace, name) as load:

        def at_max() -> bool:
            seen.append(replicas(kube, namespace, name))
            return seen[-1] == 3

        wait_for(at_max, timeout=60, interval=0.5, what="production scaled to 3 pods")
        up = time.monotonic() - started
        busy = wait(
            lambda s: s["autoscaling"]["desiredReplicas"] == 3, what="status showing 3 pods"
        )["autoscaling"]
        # The load goes on (spread over the pods as they become ready): production stays at 3.
        for _ in range(20):
            time.sleep(0.5)
            seen.append(replicas(kube, namespace, name))
        at_stop = status_of(kube, MODEL_DEPLOYMENTS, namespace, name)["autoscaling"]
    stopped = time.monotonic()
    print(f"\nautoscaling: 1 -> 3 pods in {up:.1f} s under load ({busy['reason']}; panic "
          f"{busy['panic']}); answered {load.answered}, failed {len(load.failures)} "
          f"{load.failures[:2]}")  # fmt: skip
    assert max(seen) == 3  # never above maxReplicas
    assert seen[-1] == 3, at_stop  # the load still needed them when it stopped
    # Requests are what makes the load, not what is tested here (a rollout losing none is
    # tests/e2e/test_zero_drop_rollout.py); on a starved machine a pod may miss its liveness probe.
    assert load.answered > 0, load.failures[:5]

    def at_min() -> bool:
        seen.append(replicas(kube, namespace, name))
        return seen[-1] == 1

    wait_for(at_min, timeout=90, interval=0.5, what="production back to 1 pod")
    down = time.monotonic() - stopped
    calm = wait(lambda s: s["autoscaling"]["desiredReplicas"] == 1, what="status showing 1 pod")
    print(f"autoscaling: 3 -> 1 pod {down:.1f} s after the load stopped "
          f"({calm['autoscaling']['reason']}); replicas seen {sorted(set(seen))}")  # fmt: skip
    assert max(seen) == 3 and calm["autoscaling"]["lastScaleTime"]
    assert condition(calm, "Autoscaling")["reason"] == "Operator"
    hpa_mode_applies_an_autoscaling_v2_hpa_the_controller_reads(operator, kube, namespace)


def hpa_mode_applies_an_autoscaling_v2_hpa_the_controller_reads(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    """hpa mode hands the count to a real autoscaling/v2 HPA, accepted field for field; with no
    custom-metrics adapter on the local cluster, the HPA controller says it cannot read them."""
    name = "iris"  # serving, autoscaled by the operator until now
    kube.patch(
        MODEL_DEPLOYMENTS, namespace, name,
        {"spec": {"production": {"autoscaling": {**AUTOSCALING, "mode": "hpa"}}}},
    )  # fmt: skip
    status = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, name,
        lambda s: condition(s, "Autoscaling").get("reason") == "HPA", 60,
        describe=operator.tail,
    )  # fmt: skip
    assert "HorizontalPodAutoscaler" in status["autoscaling"]["reason"]
    owner = kube.get(MODEL_DEPLOYMENTS, namespace, name)
    assert owner is not None
    spec = Autoscaling.model_validate({**AUTOSCALING, "mode": "hpa"})
    expected = build_hpa(owner, spec, 10)
    target = expected["metadata"]["name"]
    created = kube.get(HPAS_V2, namespace, target)
    assert created is not None and created["apiVersion"] == "autoscaling/v2"
    assert created["spec"]["metrics"] == expected["spec"]["metrics"]  # nothing pruned
    assert (created["spec"]["minReplicas"], created["spec"]["maxReplicas"]) == (1, 3)
    assert created["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0

    def metrics_unavailable() -> dict[str, Any] | None:
        hpa = kube.get(HPAS_V2, namespace, target) or {}
        conditions = {c["type"]: c for c in hpa.get("status", {}).get("conditions") or []}
        active = conditions.get("ScalingActive")
        return active if active is not None and active["status"] == "False" else None

    active = wait_for(metrics_unavailable, timeout=90, what="the HPA controller's reading")
    assert active["reason"] == "FailedGetPodsMetric", active
