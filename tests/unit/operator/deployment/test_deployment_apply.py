"""observe → decide → apply against the in-memory client: the writes a reconcile really makes."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.contracts.acceptance import AcceptanceJobReport
from modelship.operator.deployment.actions import ApplyChild, Decision
from modelship.operator.deployment.apply import apply
from modelship.operator.deployment.controller import reconcile_deployment
from modelship.operator.deployment.decide import SETTLED_SECONDS
from modelship.operator.deployment.observation import Subject
from modelship.operator.kube import events
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, PODS, SERVICES
from support.deployments import SETTINGS, approved_by, body, cluster
from support.fake_kube import FakeKube

Obj = dict[str, Any]


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Events the controller posts, as `Type Reason`."""
    seen: list[str] = []
    monkeypatch.setattr(events, "normal", lambda _b, reason, _m: seen.append(f"Normal {reason}"))
    monkeypatch.setattr(events, "warning", lambda _b, reason, _m: seen.append(f"Warning {reason}"))
    return seen


def reconcile(kube: FakeKube) -> float | None:
    kube.calls.clear()
    current = kube.get(MODEL_DEPLOYMENTS, "ml", "iris")
    assert current is not None
    return reconcile_deployment(kube, SETTINGS, current)


def status(kube: FakeKube) -> Obj:
    return dict(kube.objects[("modelship.io/deployments", "ml", "iris")]["status"])


def roll_out(kube: FakeKube, name: str, version: int) -> None:
    """What the Deployment controller and the kubelet would do: all replicas ready."""
    key = ("apps/deployments", "ml", name)
    deployment = kube.objects[key]
    replicas = deployment["spec"]["replicas"]
    deployment["status"] = {
        "observedGeneration": deployment["metadata"]["generation"],
        **dict.fromkeys(
            ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"), replicas
        ),
    }
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for index in range(replicas):
        kube.put(
            PODS,
            {
                "metadata": {"name": f"{name}-{index}", "namespace": "ml", "labels": labels},
                "status": {
                    "podIP": f"127.1.0.{index + 2}",
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            },
        )


def finish_acceptance(kube: FakeKube, job_name: str) -> None:
    kube.objects[("batch/jobs", "ml", job_name)]["status"] = {
        "conditions": [{"type": "Complete", "status": "True"}]
    }
    report = AcceptanceJobReport(
        passed=True, checked_at="2025-03-01T12:00:00Z", samples=30, checks=[]
    )
    kube.put(
        PODS,
        {
            "metadata": {
                "name": f"{job_name}-x",
                "namespace": "ml",
                "labels": {"job-name": job_name},
            },
            "status": {
                "containerStatuses": [{"state": {"terminated": {"message": report.to_message()}}}]
            },
        },
    )


def test_a_version_goes_from_test_to_production_with_one_status_write_per_step(
    posted: list[str],
) -> None:
    kube = cluster()
    assert reconcile(kube) == 3.0
    assert [(c.verb, c.resource, c.name) for c in kube.written()] == [
        ("create", "services", "iris-test"),
        ("create", "apps/deployments", "iris-test"),
        ("patch-status", "modelship.io/deployments", "iris"),
    ]
    assert posted == ["Normal Testing"] and status(kube)["phase"] == "Testing"

    roll_out(kube, "iris-test", 1)
    reconcile(kube)
    assert [(c.verb, c.resource) for c in kube.written()] == [
        ("create", "batch/jobs"),
        ("patch-status", "modelship.io/deployments"),
    ]
    job = next(name for (kind, _, name) in kube.objects if kind == "batch/jobs")

    finish_acceptance(kube, job)
    assert reconcile(kube) == SETTLED_SECONDS
    assert [c.verb for c in kube.written()] == ["patch-status"]
    assert status(kube)["phase"] == "AwaitingApproval" and posted[-1] == "Normal TestPassed"
    assert status(kube)["test"]["report"]["samples"] == 30

    before = len(posted)
    reconcile(kube)
    assert kube.written() == [] and len(posted) == before  # settled: no write, no Event

    approval = {"version": 1}  # as the admission webhook records it, with its approver
    patch = {
        "spec": {"approval": approval},
        "metadata": {"annotations": approved_by("jane", approval)},
    }
    kube.patch(MODEL_DEPLOYMENTS, "ml", "iris", patch)
    kube.objects[("modelship.io/deployments", "ml", "iris")]["metadata"]["generation"] = 2
    reconcile(kube)
    assert [(c.verb, c.resource, c.name) for c in kube.written()] == [
        ("create", "services", "iris"),
        ("create", "policy/poddisruptionbudgets", "iris"),
        ("create", "apps/deployments", "iris"),
        ("patch-status", "modelship.io/deployments", "iris"),
    ]
    roll_out(kube, "iris", 1)
    reconcile(kube)
    assert status(kube)["phase"] == "Serving" and status(kube)["production"]["readyReplicas"] == 2
    assert posted[-2:] == ["Normal Promoting", "Normal Promoted"]


def test_a_child_created_meanwhile_is_patched_instead(posted: list[str]) -> None:
    kube = cluster()
    kube.put(SERVICES, {"metadata": {"name": "iris-test", "namespace": "ml"}, "spec": {}})
    service = {"metadata": {"name": "iris-test", "labels": {}, "annotations": {}}, "spec": {"a": 1}}
    subject = Subject.parse(body())
    decision = Decision(subject.status, [ApplyChild(SERVICES, service, exists=False)], None)
    apply(kube, subject, decision)
    assert [c.verb for c in kube.written()] == ["create", "patch"]
    assert kube.objects[("services", "ml", "iris-test")]["spec"] == {"a": 1}


def test_a_failed_write_posts_no_events_and_writes_no_status(posted: list[str]) -> None:
    kube = cluster()

    def refuse(*_: object, **__: object) -> Obj:
        raise RuntimeError("API server gone")

    kube.create = refuse  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        reconcile(kube)
    assert posted == [] and status(kube) == {} and kube.written() == []
