"""Which version a selector names, and whether it may score: pure.

Approval is read from what the Deployments recorded (a version promoted to production, with
the approver's identity the admission webhook bound to the approval), never from the
BatchPrediction itself, so `create` on batchpredictions is all a user needs and cannot vouch
for a version. Resolved once; the digest is then pinned in status.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelship.api.v1alpha1 import BatchPredictionSpec, ResolvedVersion
from modelship.operator.batch.observation import ApprovalRecord, CatalogVersion, VersionFacts


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str


def resolve(spec: BatchPredictionSpec, facts: VersionFacts) -> ResolvedVersion | Refusal:
    model = spec.model
    if not facts.model_exists:
        return Refusal("ModelNotFound", f"Model {model!r} does not exist in this namespace")
    selector = spec.version
    chosen: CatalogVersion | None
    if selector.stage is not None:
        serving = [a for a in facts.approvals if a.serving]
        if not serving:
            return Refusal("NoProductionVersion", f"Model {model!r} has no version in production")
        newest = max(serving, key=lambda a: a.version)
        chosen = _find(facts.versions, digest=newest.digest) or CatalogVersion(
            newest.version, newest.digest
        )
    elif selector.number is not None:
        chosen = _find(facts.versions, number=selector.number)
        if chosen is None:
            known = ", ".join(str(v.version) for v in facts.versions) or "none"
            return Refusal(
                "VersionNotFound",
                f"Model {model!r} has no version {selector.number} (versions: {known})",
            )
    else:
        chosen = _find(facts.versions, digest=selector.digest)
        if chosen is None:
            return Refusal(
                "VersionNotFound", f"Model {model!r} has no version with digest {selector.digest}"
            )
    approval = _approval(facts.approvals, chosen.digest)
    if approval is None and spec.require_approved:
        return Refusal(
            "VersionNotApproved",
            f"version {chosen.version} ({chosen.digest}) of {model!r} was never approved for "
            "production; set requireApproved: false for a backtest",
        )
    return ResolvedVersion(
        version=chosen.version,
        digest=chosen.digest,
        artifact=chosen.artifact,
        approved=approval is not None,
        approved_by=approval.approved_by if approval is not None else None,
    )


def _find(
    versions: list[CatalogVersion], *, number: int | None = None, digest: str | None = None
) -> CatalogVersion | None:
    for version in versions:
        if (number is not None and version.version == number) or (
            digest is not None and version.digest == digest
        ):
            return version
    return None


def _approval(approvals: list[ApprovalRecord], digest: str) -> ApprovalRecord | None:
    """The record of this digest, one naming its approver first."""
    matching = [a for a in approvals if a.digest == digest]
    matching.sort(key=lambda a: (a.approved_by is None, not a.serving))
    return matching[0] if matching else None
