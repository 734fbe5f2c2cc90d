"""A drift pass at rest costs the API server one request: the status write."""

from __future__ import annotations

import asyncio
import copy
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
