"""Who approved: the annotations the admission webhook writes and the operator and CLI read.

The approver's identity comes from the API request that set `spec.approval` (the API server's
authenticated `userInfo`), never from what a client typed into the spec. The webhook records it
in these annotations; the operator names that identity in status, history and Events, and
`modelship approve` prints it. Writer and readers import this one module, so the keys cannot
drift apart. The record also carries a fingerprint of the approval it belongs to: an approval
whose fingerprint does not match (written while no webhook was installed, say) has no known
approver, and the operator refuses to act on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PREFIX = "approval.modelship.io"
APPROVED_BY = f"{PREFIX}/by"
APPROVED_GROUPS = f"{PREFIX}/groups"
APPROVED_AT = f"{PREFIX}/at"
APPROVED_OF = f"{PREFIX}/of"
APPROVAL_CLAIM = f"{PREFIX}/claim"
# Who last changed spec.version (for four-eyes): written on every create and version change.
VERSION_CHANGED_BY = f"{PREFIX}/version-changed-by"
# Who last changed a Model's spec (for four-eyes), written on the Model, with the generation
# that change produced: a Model whose generation differs changed while nothing recorded who.
SPEC_CHANGED_BY = f"{PREFIX}/spec-changed-by"
SPEC_CHANGED_GENERATION = f"{PREFIX}/spec-changed-generation"
APPROVAL_KEYS = (APPROVED_BY, APPROVED_GROUPS, APPROVED_AT, APPROVED_OF, APPROVAL_CLAIM)
# `modelship promote` / `modelship abort` of a canary: `<version>/<step>` and `<version>`. They
# move production as an approval does, so setting or changing them needs the same right.
PROMOTE_ANNOTATION = "modelship.io/promote"
ABORT_ANNOTATION = "modelship.io/abort"
ROLLOUT_COMMANDS = (PROMOTE_ANNOTATION, ABORT_ANNOTATION)
# The name a policy approval is recorded under (autoApprove: decided inside the operator).
AUTO_APPROVER = "autoApprove"


class ApproverIdentity(BaseModel):
    """The authenticated requester who set an approval, as the API server described them."""

    model_config = ConfigDict(frozen=True)

    user: str = Field(description="userInfo.username of the request that set the approval.")
    groups: tuple[str, ...] = Field(default=(), description="userInfo.groups of that request.")
    at: str = Field(default="", description="When the webhook admitted it (RFC 3339).")
    of: str = Field(description="Fingerprint of the approval this identity approved.")
    claim: str | None = Field(
        default=None,
        description="spec.approval.approvedBy as a trusted applier (GitOps) passed it on: a "
        "claim, recorded beside the applier's identity, never instead of it.",
    )

    def annotations(self) -> dict[str, str]:
        written = {
            APPROVED_BY: self.user,
            APPROVED_GROUPS: json.dumps(list(self.groups)),
            APPROVED_AT: self.at,
            APPROVED_OF: self.of,
        }
        if self.claim:
            written[APPROVAL_CLAIM] = self.claim
        return written

    @property
    def display(self) -> str:
        """How status and Events name the approver: the identity, and any claim beside it."""
        return f"{self.user} (for {self.claim})" if self.claim else self.user


def model_spec_author(model: Mapping[str, Any] | None) -> str | None:
    """Who produced the Model's current spec, or None when no record matches its generation."""
    meta = (model or {}).get("metadata") or {}
    annotations = meta.get("annotations") or {}
    author = annotations.get(SPEC_CHANGED_BY)
    if not author or annotations.get(SPEC_CHANGED_GENERATION) != str(meta.get("generation")):
        return None
    return str(author)


def fingerprint(approval: Mapping[str, Any] | None) -> str:
    """A stable text of an approval as stored (camelCase keys); '' for none."""
    if not approval:
        return ""
    return json.dumps(dict(approval), sort_keys=True, separators=(",", ":"))


def read_identity(annotations: Mapping[str, str] | None) -> ApproverIdentity | None:
    """The recorded approver, or None when the annotations hold no complete record."""
    annotations = annotations or {}
    if not annotations.get(APPROVED_BY) or not annotations.get(APPROVED_OF):
        return None
    try:
        groups = json.loads(annotations.get(APPROVED_GROUPS) or "[]")
        return ApproverIdentity(
            user=annotations[APPROVED_BY],
            groups=tuple(str(g) for g in groups),
            at=annotations.get(APPROVED_AT, ""),
            of=annotations[APPROVED_OF],
            claim=annotations.get(APPROVAL_CLAIM) or None,
        )
    except (ValueError, TypeError, ValidationError):
        return None


def identity_for(
    annotations: Mapping[str, str] | None, approval: Mapping[str, Any] | None
) -> ApproverIdentity | None:
    """The recorded approver of exactly this approval, or None (unknown: fail closed)."""
    identity = read_identity(annotations)
    if identity is None or not approval or identity.of != fingerprint(approval):
        return None
    return identity
