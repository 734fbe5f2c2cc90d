"""`decide` at the test stage and while waiting for a version, without a cluster.

Each test gives the decision a Deployment status and what observe would have seen, and checks
the status, the writes and the Events it decides, and when it asks to look again.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelship.api.v1alpha1 import DeploymentStatus
from modelship.operator.deployment.actions import Decision
from modelship.operator.deployment.decide import IN_FLIGHT_SECONDS, SETTLED_SECONDS, decide
from modelship.operator.deployment.observation import Observation, Stage, Subject
from modelship.operator.deployment.rollout import AcceptanceJob
from modelship.operator.kube.actions import CreateJob
from modelship.operator.kube.conditions import get_condition
from support.deployments import (
    D1,
    NOW,
    SETTINGS,
    accepted,
    kinds,
    model,
    observation,
    pod,
    ready_test_stage,
    rollout,
    service,
    subject,
)


def run(who: Subject, seen: Observation) -> Decision:
    return decide(who, seen, NOW, SETTINGS)


def condition(status: DeploymentStatus, type_: str) -> tuple[str, str, str]:
    found = get_condition(status.conditions, type_)
    assert found is not None, f"no {type_} condition"
    return str(found.status), found.reason, found.message


def wire(status: DeploymentStatus) -> dict[str, Any]:
    return status.to_wire()


def under_test(**extra: Any) -> dict[str, Any]:
    """Status of a Deployment whose test stage holds version 1 (verdict: `extra`)."""
    return {"test": {"version": 1, "digest": D1, "service": "iris-test", **extra}}


def test_a_new_version_rolls_to_the_test_stage() -> None:
    decision = run(subject(), observation())
    assert kinds(decision.actions) == [
        "create services/iris-test",
        "create deployments/iris-test",
        "event Testing",
    ]
    status = decision.status
    assert status.test is not None and (status.test.version, status.test.digest) == (1, D1)
    assert condition(status, "TestPassed") == (
        "Unknown",
        "Testing",
        "waiting for the test stage of version 1 to be ready",
    )
    assert [h.event for h in status.history] == ["Testing"] and status.history[0].at == NOW
    assert status.phase == "Testing" and status.production is None
    assert condition(status, "Ready")[1] == "NotServing"
    assert condition(status, "Approved")[1] == "NoApproval"
    assert status.observed_generation == 1
    assert decision.requeue_after == IN_FLIGHT_SECONDS


def test_a_rolling_test_stage_is_waited_for_without_writes() -> None:
    first = run(subject(), observation()).status
    rolling = Stage(service("test"), rollout("test", 1, complete=False), [pod("t1", 1, False)])
    decision = run(subject(wire(first)), observation(test=rolling))
    assert decision.actions == [] and decision.status == first
    assert decision.requeue_after == IN_FLIGHT_SECONDS


def test_a_ready_test_stage_gets_its_acceptance_job() -> None:
    decision = run(subject(under_test()), observation(test=ready_test_stage(1)))
    assert kinds(decision.actions) == ["job iris-accept-v1-11111111"]
    job = decision.actions[0]
    assert isinstance(job, CreateJob)
    env = {
        e["name"]: e["value"] for e in job.body["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert '"targets": ["http://127.1.0.2:8080"]' in env["MODELSHIP_ACCEPTANCE_PLAN"]
    assert condition(decision.status, "TestPassed")[1] == "AcceptanceRunning"
    assert decision.status.phase == "Testing"


def test_running_acceptance_is_waited_for() -> None:
    before = run(subject(under_test()), observation(test=ready_test_stage(1))).status
    running = observation(test=ready_test_stage(1), acceptance=AcceptanceJob(finished=False))
    decision = run(subject(wire(before)), running)
    assert decision.actions == [] and decision.status == before
    assert decision.requeue_after == IN_FLIGHT_SECONDS


def test_passed_acceptance_awaits_approval() -> None:
    decision = run(
        subject(under_test()), observation(test=ready_test_stage(1), acceptance=accepted())
    )
    status = decision.status
    assert kinds(decision.actions) == ["event TestPassed"]
    assert status.test is not None and status.test.passed is True
    assert status.test.report is not None and status.test.report.samples == 30
    assert [c.name for c in status.test.report.checks] == ["identity", "accuracy"]
    assert condition(status, "TestPassed") == (
        "True",
        "AcceptancePassed",
        "version 1 passed 2 checks",
    )
    assert condition(status, "Approved")[1:] == (
        "AwaitingApproval",
        "version 1 passed testing; set spec.approval (modelship approve) to promote it",
    )
    assert status.phase == "AwaitingApproval" and status.history[0].event == "TestPassed"
    assert decision.requeue_after == SETTLED_SECONDS


def test_awaiting_approval_is_a_fixed_point() -> None:
    """Once decided, the same observation decides nothing new: no writes, no Events."""
    passed = run(
        subject(under_test()), observation(test=ready_test_stage(1), acceptance=accepted())
    )
    again = run(
        subject(wire(passed.status)), observation(test=Stage(service("test"), rollout("test", 1)))
    )
    assert again.actions == [] and again.status == passed.status


@pytest.mark.parametrize(
    ("seen", "reason", "message"),
    [
        (
            observation(test=ready_test_stage(1), acceptance=accepted(passed=False)),
            "AcceptanceFailed",
            "version 1: accuracy 0.5 is not >= 0.8",
        ),
        (
            observation(test=ready_test_stage(1), acceptance=accepted(error="CatalogError: gone")),
            "AcceptanceError",
            "version 1: CatalogError: gone",
        ),
        (
            observation(
                test=Stage(
                    service("test"),
                    rollout("test", 1, complete=False, deadline=True),
                    [pod("t1", 1, False, trouble="t1: CrashLoopBackOff digest mismatch")],
                )
            ),
            "TestStageNotReady",
            "version 1: t1: CrashLoopBackOff digest mismatch",
        ),
    ],
    ids=["acceptance-failed", "acceptance-errored", "test-stage-deadline"],
)
def test_a_failed_test_stage_fails_the_deployment(
    seen: Observation, reason: str, message: str
) -> None:
    decision = run(subject(under_test()), seen)
    status = decision.status
    assert kinds(decision.actions) == [f"warning {reason}"]
    assert status.test is not None and status.test.passed is False
    assert condition(status, "TestPassed") == ("False", reason, message)
    assert status.history[0].event == "TestFailed" and status.history[0].message == message
    assert status.phase == "Failed" and decision.requeue_after == SETTLED_SECONDS


def test_a_new_version_replaces_the_tested_one() -> None:
    decision = run(
        subject(under_test(passed=True)),
        observation(model=model((1, True, 0.9), (2, True, 0.95)), test=ready_test_stage(1)),
    )
    assert kinds(decision.actions) == ["patch deployments/iris-test", "event Testing"]
    assert decision.status.test is not None and decision.status.test.version == 2
    assert decision.status.test.passed is None and decision.status.phase == "Testing"


@pytest.mark.parametrize(
    ("spec", "seen", "reason", "phase", "failed"),
    [
        ({}, Observation(), "ModelNotFound", "Pending", False),
        ({}, Observation(model=model()), "VersionUnavailable", "Pending", False),
        (
            {"version": "1"},
            observation(model=model((1, False, 0.1))),
            "VersionUnavailable",
            "Failed",
            True,
        ),
        ({"version": "7"}, observation(), "VersionUnavailable", "Failed", True),
    ],
    ids=["no-model", "no-version-yet", "gates-failed", "unknown-version"],
)
def test_waiting_for_a_version(
    spec: dict[str, Any], seen: Observation, reason: str, phase: str, failed: bool
) -> None:
    decision = run(subject(**spec), seen)
    status = decision.status
    assert status.phase == phase
    assert condition(status, "TestPassed")[:2] == ("False" if failed else "Unknown", reason)
    assert condition(status, "Ready")[1] == reason
    assert kinds(decision.actions) == [f"{'warning' if failed else 'event'} {reason}"]
    # No version to wait for by polling: the Model's events reconcile this Deployment.
    assert decision.requeue_after == SETTLED_SECONDS
    again = run(subject(wire(status), **spec), seen)
    assert again.actions == [] and again.status == status  # the Event is posted once


def test_waiting_keeps_production_serving() -> None:
    serving = {"production": {"version": 1, "digest": D1, "promotedAt": NOW}, "phase": "Serving"}
    decision = run(subject(serving), Observation())
    assert decision.status.phase == "Serving"
    assert get_condition(decision.status.conditions, "Ready") is None
    assert decision.status.production is not None and decision.status.production.version == 1


def test_an_invalid_spec_is_reported_once_and_not_requeued() -> None:
    decision = run(subject(version="v1"), Observation())
    assert decision.status.phase == "Failed"
    reason, message = condition(decision.status, "Ready")[1:]
    assert reason == "InvalidSpec" and message.startswith("spec.version:")
    assert kinds(decision.actions) == ["warning InvalidSpec"] and decision.requeue_after is None
    again = run(subject(wire(decision.status), version="v1"), Observation())
    assert again.actions == []
