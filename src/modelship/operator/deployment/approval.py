"""Who may change production: the approval gate and the autoApprove rule (pure).

Production changes only for an approval that names the tested, passing version (and digest, when
given); an automatic approval is recorded by the operator only by a fixed, explained rule, and
never for the first promotion or for a version that already failed in production.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelship.api.v1alpha1 import (
    LOWER_IS_BETTER,
    Approval,
    AutoApproval,
    ProductionStatus,
    TestStageStatus,
    VersionSummary,
)
from modelship.api.v1alpha1.deployment import FailedRollout
from modelship.contracts.approval import AUTO_APPROVER, identity_for


@dataclass(frozen=True)
class ApprovalVerdict:
    approved: bool
    reason: str
    message: str


def judge_approval(
    approval: Approval | None,
    test: TestStageStatus | None,
    production: ProductionStatus | None,
    failed_rollout: FailedRollout | None,
    generation: int,
) -> ApprovalVerdict:
    """Production changes only for an approval naming the tested, passing version and digest."""
    test = test or TestStageStatus()
    production = production or ProductionStatus()
    if approval is None:
        if test.passed:
            return ApprovalVerdict(
                False,
                "AwaitingApproval",
                f"version {test.version} passed testing; set spec.approval "
                "(modelship approve) to promote it",
            )
        return ApprovalVerdict(False, "NoApproval", "no approval given")
    named = approval.version
    if (
        production.version == named
        and approval.digest in (None, production.digest)
        and not (failed_rollout and failed_rollout.version == named)
    ):
        who = f" by {approval.approved_by}" if approval.approved_by else ""
        return ApprovalVerdict(
            True, "Approved", f"version {named} is approved{who} and in production"
        )
    if test.version != named:
        return ApprovalVerdict(
            False,
            "VersionNotTested",
            f"approval names version {named}, but the test stage holds version "
            f"{test.version}; nothing was changed",
        )
    if test.passed is not True:
        state = "failed" if test.passed is False else "not finished"
        return ApprovalVerdict(
            False,
            "TestNotPassed",
            f"version {named} {state} its acceptance tests; nothing was changed",
        )
    if approval.digest is not None and approval.digest != test.digest:
        return ApprovalVerdict(
            False,
            "DigestMismatch",
            f"approval digest {approval.digest} is not the tested digest "
            f"{test.digest}; nothing was changed",
        )
    if (
        failed_rollout
        and failed_rollout.version == named
        and failed_rollout.generation >= generation
    ):
        return ApprovalVerdict(
            False,
            "RolloutFailed",
            f"version {named} failed its production rollout and was rolled back; "
            "update the approval to try again",
        )
    if not approval.approved_by:
        # Fail closed: an approval with no authenticated approver (written while the admission
        # webhook was not installed, or annotations that do not belong to it) promotes nothing.
        return ApprovalVerdict(
            False,
            "ApproverUnknown",
            f"the approval of version {named} has no approver recorded by the admission webhook "
            "(was it written while the webhook was not installed?); approve again "
            "(modelship approve) to promote it; nothing was changed",
        )
    return ApprovalVerdict(True, "Approved", f"version {named} approved by {approval.approved_by}")


def attributed(
    approval: Approval | None,
    annotations: Mapping[str, str] | None,
    raw_approval: Mapping[str, Any] | None,
) -> Approval | None:
    """The approval with `approved_by` replaced by the identity the webhook recorded for exactly
    this approval (the requester, with a trusted applier's claim beside it), or by None when no
    such record exists: what a client typed into spec.approval.approvedBy is never trusted."""
    if approval is None:
        return None
    identity = identity_for(annotations, raw_approval)
    return approval.model_copy(update={"approved_by": identity.display if identity else None})


def auto_approval_rule(
    metric: str,
    version: int | None,
    production: ProductionStatus | None,
    versions: list[VersionSummary],
) -> str | None:
    """Why `version` may be promoted automatically, or None (pure).

    Gates and acceptance passed (the caller checked acceptance), production already serves a
    version (the first promotion is always a person's), and the metric is at least production's.
    """
    if production is None or production.version is None or not production.promoted_at:
        return None
    if production.version == version:
        return None
    by_version = {v.version: v for v in versions}
    candidate = by_version.get(version) if version is not None else None
    champion = by_version.get(production.version)
    if candidate is None or champion is None or not candidate.passed_gates:
        return None
    new, old = candidate.metrics.get(metric), champion.metrics.get(metric)
    if new is None or old is None:
        return None
    better = new <= old if metric in LOWER_IS_BETTER else new >= old
    if not better:
        return None
    relation = "<=" if metric in LOWER_IS_BETTER else ">="
    return (
        f"autoApprove: gates and acceptance passed; {metric} {new:.4g} {relation} "
        f"{old:.4g} of production version {production.version}"
    )


def effective_approval(approval: Approval | None, auto: AutoApproval | None) -> Approval | None:
    """The newer of the user's approval and the operator's automatic one."""
    if auto is None:
        return approval
    if approval is not None and approval.version >= auto.version:
        return approval
    return Approval(version=auto.version, digest=auto.digest, approved_by=AUTO_APPROVER)
