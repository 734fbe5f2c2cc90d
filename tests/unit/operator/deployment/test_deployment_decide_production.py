"""`decide` from approval to production, including rollbacks and automatic approval."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.api.v1alpha1 import DeploymentStatus
from modelship.operator.deployment.actions import ApplyChild, Decision
from modelship.operator.deployment.decide import IN_FLIGHT_SECONDS, SETTLED_SECONDS, decide
from modelship.operator.deployment.observation import Observation, Stage, Subject
from modelship.operator.deployment.rollout import PodState
from modelship.operator.kube.conditions import get_condition
from support.deployments import (
    D1,
    D2,
    NOW,
    SETTINGS,
    approved_by,
    kinds,
    model,
    observation,
    pdb,
    pod,
    rollout,
    service,
    serving_stage,
    subject,
)

PASSED_2 = {"version": 2, "digest": D2, "service": "iris-test", "passed": True}
SERVING_1 = {"version": 1, "digest": D1, "service": "iris", "promotedAt": NOW, "readyReplicas": 2}
TWO_VERSIONS = model((1, True, 0.9), (2, True, 0.95))


def test_stage(version: int = 2) -> Stage:
    return Stage(service("test"), rollout("test", version), [])


test_stage.__test__ = False  # type: ignore[attr-defined]  # a factory, not a test


def run(
    status: dict[str, Any],
    generation: int = 1,
    seen: Observation | None = None,
    approver: str | None = "jane",
    **spec: Any,
) -> Decision:
    seen = seen or observation(model=TWO_VERSIONS, test=test_stage())
    return decide(subject(status, generation, approver, **spec), seen, NOW, SETTINGS)


def approved(status: DeploymentStatus) -> tuple[str, str, str]:
    found = get_condition(status.conditions, "Approved")
    assert found is not None
    return str(found.status), found.reason, found.message


@pytest.mark.parametrize(
    ("approval", "test", "reason", "message"),
    [
        (
            {"version": 7},
            PASSED_2,
            "VersionNotTested",
            "approval names version 7, but the test stage holds version 2; nothing was changed",
        ),
        (
            {"version": 2},
            {**PASSED_2, "passed": False},
            "TestNotPassed",
            "version 2 failed its acceptance tests; nothing was changed",
        ),
        (
            {"version": 2, "digest": D1},
            PASSED_2,
            "DigestMismatch",
            f"approval digest {D1} is not the tested digest {D2}; nothing was changed",
        ),
    ],
    ids=["wrong-version", "test-not-passed", "digest-mismatch"],
)
def test_an_approval_that_does_not_hold_changes_nothing(
    approval: dict[str, Any], test: dict[str, Any], reason: str, message: str
) -> None:
    seen = observation(
        model=TWO_VERSIONS, test=test_stage(), production=serving_stage(1), pdb=pdb()
    )
    decision = run({"test": test, "production": SERVING_1}, seen=seen, approval=approval)
    assert approved(decision.status) == ("False", reason, message)
    assert decision.actions == []  # production keeps version 1, untouched
    assert decision.status.production is not None and decision.status.production.version == 1


def test_an_approval_of_the_tested_version_promotes_it() -> None:
    seen = observation(
        model=TWO_VERSIONS, test=test_stage(), production=serving_stage(1), pdb=pdb()
    )
    decision = run(
        {"test": PASSED_2, "production": SERVING_1},
        seen=seen,
        approval={"version": 2, "digest": D2},
    )
    status = decision.status
    assert kinds(decision.actions) == ["patch deployments/iris", "event Promoting"]
    patch = next(a for a in decision.actions if isinstance(a, ApplyChild))
    assert patch.body["spec"]["template"]["metadata"]["labels"]["modelship.io/version"] == "2"
    assert approved(status) == ("True", "Approved", "version 2 approved by jane")
    assert status.production is not None
    assert (status.production.version, status.production.digest) == (2, D2)
    assert status.production.approved_by == "jane" and status.production.promoted_at is None
    assert status.previous is not None and status.previous.version == 1
    assert status.phase == "Promoting" and decision.requeue_after == IN_FLIGHT_SECONDS
    assert [h.event for h in status.history] == ["Promoting"]


def test_the_approver_is_the_recorded_identity_never_the_typed_approved_by() -> None:
    seen = observation(
        model=TWO_VERSIONS, test=test_stage(), production=serving_stage(1), pdb=pdb()
    )
    approval = {"version": 2, "digest": D2, "approvedBy": "the-boss"}
    status = run({"test": PASSED_2, "production": SERVING_1}, seen=seen, approval=approval).status
    assert approved(status) == ("True", "Approved", "version 2 approved by jane")
    assert status.production is not None and status.production.approved_by == "jane"
    assert "approved by jane" in status.history[0].message


@pytest.mark.parametrize("record", ["none", "of-another-approval"])
def test_an_approval_without_a_recorded_approver_promotes_nothing(record: str) -> None:
    """Fail closed: written while no webhook was installed, or annotations that belong to an
    earlier approval (copied, or left behind by a write that bypassed the webhook)."""
    seen = observation(
        model=TWO_VERSIONS, test=test_stage(), production=serving_stage(1), pdb=pdb()
    )
    approval = {"version": 2, "digest": D2}
    mdep = subject({"test": PASSED_2, "production": SERVING_1}, 1, None, approval=approval)
    if record == "of-another-approval":
        mdep.body["metadata"]["annotations"] = approved_by("jane", {"version": 1})
        mdep = Subject.parse(mdep.body)
    decision = decide(mdep, seen, NOW, SETTINGS)
    status, reason, message = approved(decision.status)
    assert (status, reason) == ("False", "ApproverUnknown")
    assert "no approver recorded by the admission webhook" in message
    assert decision.actions == []  # production keeps version 1, untouched
    assert decision.status.production is not None and decision.status.production.version == 1


def test_the_first_promotion_creates_production() -> None:
    decision = run({"test": PASSED_2}, approval={"version": 2})
    assert kinds(decision.actions) == [
        "create services/iris",
        "create poddisruptionbudgets/iris",
        "create deployments/iris",
        "event Promoting",
    ]
    assert decision.status.previous is None


def test_a_single_replica_production_has_no_disruption_budget() -> None:
    seen = observation(
        model=TWO_VERSIONS, test=test_stage(), production=serving_stage(1), pdb=pdb()
    )
    status = {"test": {**PASSED_2, "version": 1, "digest": D1}, "production": SERVING_1}
    decision = run(status, seen=seen, approval={"version": 1}, production={"replicas": 1})
    assert "delete poddisruptionbudgets/iris" in kinds(decision.actions)


def test_a_complete_rollout_is_promoted() -> None:
    promoting = {**SERVING_1, "version": 2, "digest": D2, "readyReplicas": 0}
    del promoting["promotedAt"]
    seen = observation(
        model=TWO_VERSIONS, test=test_stage(), production=serving_stage(2), pdb=pdb()
    )
    decision = run({"test": PASSED_2, "production": promoting}, seen=seen, approval={"version": 2})
    status = decision.status
    assert kinds(decision.actions) == ["event Promoted"]
    assert status.production is not None and status.production.promoted_at == NOW
    assert status.production.ready_replicas == 2
    rolled_back = get_condition(status.conditions, "RolledBack")
    assert rolled_back is not None and (rolled_back.status, rolled_back.reason) == (
        "False",
        "Promoted",
    )
    ready = get_condition(status.conditions, "Ready")
    assert ready is not None and ready.message == "version 2 serves production (2 ready)"
    assert status.phase == "Serving" and decision.requeue_after == SETTLED_SECONDS
    again = run(status.to_wire(), seen=seen, approval={"version": 2})
    assert again.actions == [] and again.status == status


def stuck(previous: bool) -> Decision:
    promoting = {"version": 2, "digest": D2, "service": "iris", "readyReplicas": 1}
    status: dict[str, Any] = {"test": PASSED_2, "production": promoting}
    if previous:
        status["previous"] = {"version": 1, "digest": D1}
    pods = [
        PodState("old", "1", True, "127.1.0.9", ""),
        pod("new", 2, ready=False, trouble="new: CrashLoopBackOff digest mismatch"),
    ]
    production = Stage(
        service("production"), rollout("production", 2, complete=False, deadline=True), pods
    )
    seen = observation(model=TWO_VERSIONS, test=test_stage(), production=production, pdb=pdb())
    return run(status, generation=3, seen=seen, approval={"version": 2})


def test_a_stuck_rollout_is_reverted_to_the_previous_version() -> None:
    decision = stuck(previous=True)
    status = decision.status
    assert kinds(decision.actions) == ["patch deployments/iris", "warning RolledBack"]
    restore = next(a for a in decision.actions if isinstance(a, ApplyChild))
    assert restore.body["spec"]["template"]["metadata"]["labels"]["modelship.io/version"] == "1"
    assert status.production is not None and status.production.version == 1
    assert status.production.promoted_at == NOW
    assert status.failed_rollout is not None
    assert (status.failed_rollout.version, status.failed_rollout.generation) == (2, 3)
    assert status.failed_rollout.reason == "new: CrashLoopBackOff digest mismatch"
    rolled_back = get_condition(status.conditions, "RolledBack")
    assert rolled_back is not None and rolled_back.status == "True"
    assert rolled_back.message == (
        "version 2 did not become ready (new: CrashLoopBackOff digest mismatch); "
        "reverted to version 1"
    )
    assert status.history[0].event == "RolledBack"


def test_a_stuck_first_rollout_removes_production() -> None:
    decision = stuck(previous=False)
    assert kinds(decision.actions) == ["delete deployments/iris", "warning RolledBack"]
    assert decision.status.production is None
    rolled_back = get_condition(decision.status.conditions, "RolledBack")
    assert rolled_back is not None
    assert rolled_back.message.endswith("; no previous version, production removed")


def after_rollback(generation: int) -> Decision:
    """Version 2 was rolled back in generation 3; the approval still (or again) names it."""
    reverted = stuck(previous=True).status.to_wire()
    seen = observation(
        model=TWO_VERSIONS, test=test_stage(), production=serving_stage(1), pdb=pdb()
    )
    return run(reverted, generation=generation, seen=seen, approval={"version": 2})


def test_a_rolled_back_version_is_not_retried_by_the_same_approval() -> None:
    decision = after_rollback(generation=3)
    assert approved(decision.status)[1] == "RolloutFailed"
    assert decision.actions == []
    assert decision.status.production is not None and decision.status.production.version == 1


def test_a_new_approval_of_a_rolled_back_version_promotes_it_again() -> None:
    decision = after_rollback(generation=4)
    assert approved(decision.status)[:2] == ("True", "Approved")
    assert kinds(decision.actions) == ["patch deployments/iris", "event Promoting"]
    assert decision.status.production is not None and decision.status.production.version == 2


AUTO: dict[str, Any] = {"autoApprove": {"enabled": True}}


def test_auto_approval_promotes_a_version_at_least_as_good_as_production() -> None:
    seen = observation(
        model=TWO_VERSIONS, test=test_stage(), production=serving_stage(1), pdb=pdb()
    )
    decision = run({"test": PASSED_2, "production": SERVING_1}, seen=seen, **AUTO)
    status = decision.status
    assert status.auto_approval is not None and status.auto_approval.version == 2
    assert status.auto_approval.rule.startswith(
        "autoApprove: gates and acceptance passed; accuracy"
    )
    assert kinds(decision.actions) == [
        "patch deployments/iris",
        "event AutoApproved",
        "event Promoting",
    ]
    assert status.production is not None and status.production.approved_by == "autoApprove"
    assert [h.event for h in status.history] == ["Promoting", "AutoApproved"]


def test_no_auto_approval_for_a_worse_version_or_the_first_promotion() -> None:
    worse = model((1, True, 0.9), (2, True, 0.8))
    seen = observation(model=worse, test=test_stage(), production=serving_stage(1), pdb=pdb())
    assert (
        run({"test": PASSED_2, "production": SERVING_1}, seen=seen, **AUTO).status.auto_approval
        is None
    )
    assert run({"test": PASSED_2}, **AUTO).status.auto_approval is None


def test_no_auto_approval_for_a_version_that_failed_in_production() -> None:
    failed = {"version": 2, "digest": D2, "generation": 1, "reason": "crashed"}
    seen = observation(
        model=TWO_VERSIONS, test=test_stage(), production=serving_stage(1), pdb=pdb()
    )
    decision = run(
        {"test": PASSED_2, "production": SERVING_1, "failedRollout": failed}, seen=seen, **AUTO
    )
    assert decision.status.auto_approval is None and decision.actions == []
    assert decision.status.production is not None and decision.status.production.version == 1
