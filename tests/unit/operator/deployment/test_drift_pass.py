"""A drift pass at rest costs the API server one request: the status write."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from modelship.contracts.drift import DriftReference, DriftReport, FeaturePsi
from modelship.operator import deployment_handlers
from modelship.operator.deployment.builders.stages import LABEL_DEPLOYMENT
from modelship.operator.deployment.drift import DriftReader
from modelship.operator.kube.naming import LABEL_STAGE
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, PODS
from support.fake_kube import FakeKube
from support.handler_memo import Clock, handler_memo

KEY = ("ml", "iris")


def fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def in_production() -> dict[str, Any]:
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "Deployment",
        "metadata": {"name": "iris", "namespace": "ml", "resourceVersion": "3"},
        "spec": {"modelRef": {"name": "iris"}},
        "status": {
            "production": {
                "version": 1,
                "digest": "sha256:a",
                "promotedAt": "2025-03-01T12:00:00Z",
            }
        },
    }


def production_pod() -> dict[str, Any]:
    labels = {LABEL_DEPLOYMENT: "iris", LABEL_STAGE: "production", "modelship.io/version": "1"}
    return {
        "metadata": {"name": "iris-a", "namespace": "ml", "labels": labels},
        "status": {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod_answering() -> httpx.Client:
    report = DriftReport(
        model_name="iris",
        model_version="1",
        reference=DriftReference(version=1, digest="sha256:a"),
        epsilon=1e-4,
        window_rows=40,
        observed_rows=40,
        features=[FeaturePsi(name="a", psi=0.1)],
    ).model_dump(mode="json")
    return httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, json=report)))


def test_a_drift_pass_starts_from_the_event_s_body_and_the_kept_pod_listing() -> None:
    kube, clock = FakeKube(), Clock()
    kube.put(MODEL_DEPLOYMENTS, in_production())
    kube.put(PODS, production_pod())
    reader = DriftReader(kube, "pod", in_cluster=True, timeout=1)
    reader._http = pod_answering()
    memo = handler_memo(kube, clock, drift_reader=reader)

    async def event(body: dict[str, Any]) -> None:
        await deployment_handlers.deployment_seen(body=copy.deepcopy(body), memo=memo)

    asyncio.run(event(in_production()))
    asyncio.run(deployment_handlers.clock_pass(memo, KEY))
    assert [(c.verb, c.resource) for c in kube.calls] == [
        ("list", "pods"),
        ("patch-status", "modelship.io/deployments"),
    ]
    stored = kube.objects[("modelship.io/deployments", "ml", "iris")]
    assert stored["status"]["drift"]["rows"] == 40
    assert memo.deployment_clock.kept(KEY) == stored  # the write's answer, until its event

    # The next pass (an interval later) reads the same pods without listing them again.
    kube.calls.clear()
    stale = copy.deepcopy(stored)
    stale["status"]["drift"]["checkedAt"] = "2025-03-01T12:00:00Z"
    kube.put(MODEL_DEPLOYMENTS, copy.deepcopy(stale))
    asyncio.run(event(stale))
    clock.now += 30
    asyncio.run(deployment_handlers.clock_pass(memo, KEY))
    assert [c.verb for c in kube.calls] == ["patch-status"]

    # The production stage's apps Deployment moved: its pods are listed at the next pass.
    stage = {
        "kind": "Deployment",
        "metadata": {
            "name": "iris-production",
            "namespace": "ml",
            "labels": {LABEL_DEPLOYMENT: "iris", LABEL_STAGE: "production"},
        },
    }
    assert reader.listings() == 1
    kube.objects.pop(("modelship.io/deployments", "ml", "iris"))  # keeps the reconcile short
    deployment_handlers.stage_event(body=stage, memo=memo)
    assert reader.listings() == 0


def answering_rows(rows: list[int]) -> httpx.Client:
    """A production pod whose report counts `rows[0]` rows (change the list to change it)."""

    def answer(_: httpx.Request) -> httpx.Response:
        report = DriftReport(
            model_name="iris",
            model_version="1",
            reference=DriftReference(version=1, digest="sha256:a"),
            epsilon=1e-4,
            window_rows=rows[0],
            observed_rows=rows[0],
            features=[FeaturePsi(name="a", psi=0.1)],
        )
        return httpx.Response(200, json=report.model_dump(mode="json"))

    return httpx.Client(transport=httpx.MockTransport(answer))


def test_an_unchanged_reading_is_not_written_until_its_record_is_old_and_waits_its_interval() -> (
    None
):
    kube, clock, rows = FakeKube(), Clock(), [40]
    kube.put(MODEL_DEPLOYMENTS, in_production())
    kube.put(PODS, production_pod())
    reader = DriftReader(kube, "pod", in_cluster=True, timeout=1)
    reader._http = answering_rows(rows)
    memo = handler_memo(kube, clock, drift_reader=reader)
    every = memo.settings.drift_unchanged_write_seconds
    assert every == 300.0  # the default heartbeat

    def event(body: dict[str, Any]) -> None:
        asyncio.run(deployment_handlers.deployment_seen(body=copy.deepcopy(body), memo=memo))

    def stored() -> dict[str, Any]:
        return copy.deepcopy(kube.objects[("modelship.io/deployments", "ml", "iris")])

    def read_ago(seconds: float) -> dict[str, Any]:
        """The stored Deployment as if its drift was recorded `seconds` ago (wall clock)."""
        body = stored()
        then = datetime.now(UTC) - timedelta(seconds=seconds)
        body["status"]["drift"]["checkedAt"] = fmt(then)
        kube.put(MODEL_DEPLOYMENTS, copy.deepcopy(body))
        event(body)
        kube.calls.clear()
        return body

    event(in_production())
    asyncio.run(deployment_handlers.clock_pass(memo, KEY))  # the first reading is written
    first = read_ago(31)["status"]["drift"]

    # An interval on, the pods say the same: nothing is written, the record stays as it was.
    clock.now += 30
    asyncio.run(deployment_handlers.clock_pass(memo, KEY))
    assert kube.calls == []
    assert stored()["status"]["drift"] == first
    # No event comes of it, so the clock plans the next read an interval after this one, and
    # another event of the same version (a reconcile's write) does not bring it forward.
    assert memo.deployment_clock.schedule.scheduled(KEY) == clock.now + 30
    event(stored())
    assert memo.deployment_clock.schedule.scheduled(KEY) == clock.now + 30

    # The figures move: written at once, at the next interval.
    rows[0] = 41
    clock.now += 30
    asyncio.run(deployment_handlers.clock_pass(memo, KEY))
    assert [c.verb for c in kube.calls] == ["patch-status"]
    assert stored()["status"]["drift"]["rows"] == 41

    # The same figures again, but the record is as old as the heartbeat: written again.
    aged = read_ago(every + 1)
    clock.now += 30
    asyncio.run(deployment_handlers.clock_pass(memo, KEY))
    assert [c.verb for c in kube.calls] == ["patch-status"]
    assert stored()["status"]["drift"]["checkedAt"] != aged["status"]["drift"]["checkedAt"]


def test_a_new_production_version_is_read_at_once_after_an_unchanged_reading() -> None:
    kube, clock = FakeKube(), Clock()
    kube.put(MODEL_DEPLOYMENTS, in_production())
    kube.put(PODS, production_pod())
    reader = DriftReader(kube, "pod", in_cluster=True, timeout=1)
    reader._http = answering_rows([40])
    memo = handler_memo(kube, clock, drift_reader=reader)
    asyncio.run(deployment_handlers.deployment_seen(body=in_production(), memo=memo))
    asyncio.run(deployment_handlers.clock_pass(memo, KEY))
    body = copy.deepcopy(kube.objects[("modelship.io/deployments", "ml", "iris")])
    body["status"]["drift"]["checkedAt"] = fmt(datetime.now(UTC) - timedelta(seconds=31))
    kube.put(MODEL_DEPLOYMENTS, copy.deepcopy(body))
    asyncio.run(deployment_handlers.deployment_seen(body=copy.deepcopy(body), memo=memo))
    clock.now += 30
    asyncio.run(deployment_handlers.clock_pass(memo, KEY))  # unchanged: the next read in 30 s
    assert memo.deployment_clock.schedule.scheduled(KEY) == clock.now + 30
    promoted = copy.deepcopy(body)
    promoted["status"]["production"] = {
        "version": 2,
        "digest": "sha256:b",
        "promotedAt": "2025-03-01T13:00:00Z",
    }
    asyncio.run(deployment_handlers.deployment_seen(body=promoted, memo=memo))
    planned = memo.deployment_clock.schedule.scheduled(KEY)
    assert planned is not None and planned <= clock.now + 1.0
