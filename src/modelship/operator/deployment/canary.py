"""Decide a canary rollout and shadow traffic (pure): weights, children, verdicts, completion.

An approved version reaches production through the steps of `spec.production.rollout` when a
stable version already serves (a first promotion has nothing to compare with, so it surges).
The router fronts production only while a canary or shadow is active and only once it is ready;
otherwise the production Service selects the stable pods and no extra hop exists. A failed
analysis (or `modelship abort`) sends every request back to stable at once, removes the canary,
and records the failed rollout so that only a new approval generation can try that version again.
"""

from __future__ import annotations

from datetime import datetime

from modelship.api.v1alpha1 import Approval, ProductionStatus, VersionRef
from modelship.api.v1alpha1.base import parse_rfc3339
from modelship.api.v1alpha1.deployment import FailedRollout
from modelship.api.v1alpha1.progressive import CanaryStatus
from modelship.contracts.approval import ABORT_ANNOTATION, PROMOTE_ANNOTATION
from modelship.operator.deployment.actions import Draft
from modelship.operator.deployment.canary_steps import advance
from modelship.operator.deployment.observation import Observation, Subject
from modelship.operator.deployment.traffic_modes import blocked, record_split, traffic_ready


def canary_applies(subject: Subject, production: ProductionStatus) -> bool:
    mdep = subject.mdep
    assert mdep is not None
    return (
        mdep.spec.production.rollout.strategy == "canary"
        and production.version is not None
        and bool(production.promoted_at)
    )


def step_canary(
    draft: Draft,
    subject: Subject,
    approval: Approval,
    production: ProductionStatus,
    seen: Observation,
) -> ProductionStatus:
    """Move the canary of the approved version; returns production's status afterwards."""
    mdep, status = subject.mdep, draft.status
    assert mdep is not None and status.test is not None and status.test.digest is not None
    digest = status.test.digest
    canary = status.canary
    if canary is None or (canary.version, canary.digest) != (approval.version, digest):
        canary = CanaryStatus(
            version=approval.version,
            digest=digest,
            artifact=status.test.artifact,
            traffic=mdep.spec.production.rollout.traffic,
            step_started_at=draft.now,
        )
        draft.record("CanaryStarted", approval.version, digest, "canary rollout started")
        draft.event("CanaryStarted", f"version {approval.version}: canary rollout started")
    if canary.state in ("Aborted", "Completed"):
        status.canary = canary
        return production
    annotations = subject.body["metadata"].get("annotations") or {}
    if annotations.get(ABORT_ANNOTATION) == str(canary.version):
        return _abort(draft, subject, canary, "aborted by `modelship abort`", production)
    why = blocked(subject, canary, seen.canary)
    if why:  # fail closed: the rollout neither starts nor falls back to another way of splitting
        canary.state, canary.waiting_for = "Waiting", why
        status.canary = canary
        return production
    steps = mdep.spec.production.rollout.steps
    ready, awaiting = traffic_ready(subject, canary, seen)
    decision = advance(
        steps,
        canary,
        _parse(draft.now),
        ready=ready,
        promote=annotations.get(PROMOTE_ANNOTATION) == f"{canary.version}/{canary.step}",
        verdict=seen.canary.verdict,
        awaiting=awaiting,
    )
    canary = decision.canary
    record_split(subject, canary, seen)
    if decision.phase == "Aborted":
        assert decision.failure is not None
        failure = decision.failure
        return _abort(draft, subject, canary, f"analysis failed: {failure.message}", production)
    canary.state = "Completed" if decision.phase == "Completed" else decision.phase
    status.canary = canary
    if decision.phase != "Completed":
        return production
    draft.record("CanaryCompleted", canary.version, canary.digest, "every step passed")
    draft.event("CanaryCompleted", f"version {canary.version}: every canary step passed")
    assert production.version is not None and production.digest is not None
    status.previous = VersionRef(
        version=production.version, digest=production.digest, artifact=production.artifact
    )
    return ProductionStatus(
        version=canary.version,
        digest=canary.digest,
        artifact=canary.artifact,
        service=subject.name,
        ready_replicas=0,
        approved_by=approval.approved_by,
    )


def _abort(
    draft: Draft,
    subject: Subject,
    canary: CanaryStatus,
    why: str,
    production: ProductionStatus,
) -> ProductionStatus:
    status = draft.status
    canary.state, canary.weight, canary.waiting_for = "Aborted", 0, why
    status.canary = canary
    status.failed_rollout = FailedRollout(
        version=canary.version, digest=canary.digest, generation=subject.generation, reason=why
    )
    message = f"canary version {canary.version} {why}; stable version {production.version} serves"
    draft.condition("RolledBack", True, "CanaryAborted", message)
    draft.record("RolledBack", canary.version, canary.digest, message)
    draft.event("RolledBack", message, warning=True)
    return production


def canary_active(draft: Draft, production: ProductionStatus) -> bool:
    canary = draft.status.canary
    if canary is None or canary.state == "Aborted":
        return False
    if canary.state == "Completed":
        return not (production.version == canary.version and production.promoted_at)
    return True


def shadow_active(subject: Subject, draft: Draft, production: ProductionStatus) -> bool:
    mdep, test = subject.mdep, draft.status.test
    assert mdep is not None
    return (
        mdep.spec.test.shadow is not None
        and test is not None
        and test.passed is True
        and test.version is not None
        and test.version != production.version
        and bool(production.promoted_at)
    )


def canary_done(draft: Draft, production: ProductionStatus) -> bool:
    canary = draft.status.canary
    return (
        canary is not None
        and canary.state == "Completed"
        and production.version == canary.version
        and bool(production.promoted_at)
    )


def _parse(stamp: str) -> datetime:
    return parse_rfc3339(stamp)
