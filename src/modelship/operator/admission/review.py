"""The admission decision for approvals, as a pure function of the request (no I/O).

Kubernetes RBAC cannot tell `spec.approval` from any other spec field, so a webhook decides: a
request that sets, changes or clears an approval (or the approval policy) passes only when the
API server's authorizer allows its requester the verb `approve` on `deployments/approval` — the
pattern of CertificateSigningRequest approval. The approver's identity is then recorded from the
request's `userInfo` in annotations (`modelship.contracts.approval`); a request that does not
touch the approval carries the recorded identity over unchanged, so nobody can forge it by
editing annotations. The caller asks the authorizer (a SubjectAccessReview) only when
`needs_approve_right` says so, and passes the answer in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelship.contracts.approval import (
    APPROVAL_KEYS,
    ROLLOUT_COMMANDS,
    SPEC_CHANGED_BY,
    SPEC_CHANGED_GENERATION,
    VERSION_CHANGED_BY,
    ApproverIdentity,
    fingerprint,
)

Obj = dict[str, Any]
APPROVE_RIGHT = "verb approve on deployments/approval (group modelship.io)"


class UserInfo(BaseModel):
    """The authenticated requester, as the API server tells the webhook."""

    model_config = ConfigDict(extra="ignore")

    username: str = ""
    uid: str = ""
    groups: list[str] = Field(default_factory=list)
    extra: dict[str, list[str]] = Field(default_factory=dict)


class AdmissionRequest(BaseModel):
    """The part of an `admission.k8s.io/v1` AdmissionReview request the decision reads."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    uid: str
    operation: Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
    namespace: str = ""
    name: str = ""
    resource: dict[str, str] = Field(default_factory=dict)
    user_info: UserInfo = Field(default_factory=UserInfo, alias="userInfo")
    object: Obj | None = None
    old_object: Obj | None = Field(default=None, alias="oldObject")

    @property
    def plural(self) -> str:
        return self.resource.get("resource", "")

    @property
    def new(self) -> Obj:
        return self.object or {}

    @property
    def old(self) -> Obj:
        return self.old_object or {}

    @property
    def object_name(self) -> str:
        return self.name or str(self.new.get("metadata", {}).get("name", ""))


@dataclass(frozen=True)
class Verdict:
    """Allow (with the annotations the object must carry) or refuse with one line saying why."""

    allowed: bool
    message: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    code: int = 200


@dataclass(frozen=True)
class ReviewPolicy:
    """What the operator is configured with: the appliers whose approvedBy is a mere claim."""

    trusted_appliers: frozenset[str] = frozenset()


def _spec(obj: Obj) -> Obj:
    return dict(obj.get("spec") or {})


def _annotations(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def approval_changed(request: AdmissionRequest) -> bool:
    old, new = _spec(request.old), _spec(request.new)
    return fingerprint(old.get("approval")) != fingerprint(new.get("approval"))


def policy_changed(request: AdmissionRequest) -> bool:
    old, new = _spec(request.old), _spec(request.new)
    return (old.get("approvalPolicy") or {}) != (new.get("approvalPolicy") or {})


def rollout_command_changed(request: AdmissionRequest) -> bool:
    """`modelship promote` / `abort` (their annotations) set, changed or removed."""
    old, new = _annotations(request.old), _annotations(request.new)
    return any(old.get(key) != new.get(key) for key in ROLLOUT_COMMANDS)


def needs_approve_right(request: AdmissionRequest) -> bool:
    """Whether the authorizer must be asked: the approval or its policy is set or changed, or
    a canary is promoted or aborted."""
    if request.plural != "deployments" or request.operation not in ("CREATE", "UPDATE"):
        return False
    return approval_changed(request) or policy_changed(request) or rollout_command_changed(request)


def four_eyes(request: AdmissionRequest) -> bool:
    return bool((_spec(request.new).get("approvalPolicy") or {}).get("fourEyes"))


def who(user: UserInfo) -> str:
    groups = ", ".join(g for g in user.groups if g != "system:authenticated")
    return f'user "{user.username}"' + (f" (groups: {groups})" if groups else "")


def review(
    request: AdmissionRequest,
    may_approve: bool | None,
    now: str,
    policy: ReviewPolicy,
    model_changed_by: str | None = "",
) -> Verdict:
    """Admit a Deployment or Model change, and say which annotations it must carry.

    `may_approve` is the authorizer's answer (None when it was not asked); `model_changed_by`
    is who last changed the deployed Model's spec (for four-eyes; None: not known).
    """
    if request.operation not in ("CREATE", "UPDATE"):
        return Verdict(True, annotations=_annotations(request.new))
    if request.plural == "models":
        return _review_model(request)
    if request.plural != "deployments":
        return Verdict(True, annotations=_annotations(request.new))
    return _review_deployment(request, may_approve, now, policy, model_changed_by)


def _review_model(request: AdmissionRequest) -> Verdict:
    """Remember who last changed the Model's spec (four-eyes reads it); nobody can forge it.

    The API server increments `generation` after mutating admission, on every spec change, so
    the record names the generation the change will have."""
    keys = (SPEC_CHANGED_BY, SPEC_CHANGED_GENERATION)
    annotations = {k: v for k, v in _annotations(request.new).items() if k not in keys}
    if request.operation == "CREATE" or _spec(request.old) != _spec(request.new):
        old_generation = int((request.old.get("metadata") or {}).get("generation") or 0)
        annotations[SPEC_CHANGED_BY] = request.user_info.username
        annotations[SPEC_CHANGED_GENERATION] = str(old_generation + 1)
    else:
        annotations.update({k: v for k, v in _annotations(request.old).items() if k in keys})
    return Verdict(True, annotations=annotations)


def _review_deployment(
    request: AdmissionRequest,
    may_approve: bool | None,
    now: str,
    policy: ReviewPolicy,
    model_changed_by: str | None,
) -> Verdict:
    user = request.user_info
    where = f'deployment "{request.object_name}" in namespace "{request.namespace}"'
    if needs_approve_right(request) and may_approve is not True:
        what = (
            "spec.approval"
            if approval_changed(request)
            else "spec.approvalPolicy"
            if policy_changed(request)
            else "the canary (modelship promote/abort)"
        )
        return Verdict(
            False,
            f"{who(user)} may not change {what} of {where}: it needs the {APPROVE_RIGHT}, "
            "e.g. through the ClusterRole modelship-approver",
            code=403,
        )
    old_annotations = _annotations(request.old)
    annotations = {
        k: v
        for k, v in _annotations(request.new).items()
        if k not in (*APPROVAL_KEYS, VERSION_CHANGED_BY)
    }
    version_changed = request.operation == "CREATE" or _spec(request.old).get("version") != _spec(
        request.new
    ).get("version")
    if version_changed:
        annotations[VERSION_CHANGED_BY] = user.username
    elif old_annotations.get(VERSION_CHANGED_BY):
        annotations[VERSION_CHANGED_BY] = old_annotations[VERSION_CHANGED_BY]
    approval = _spec(request.new).get("approval")
    if not approval_changed(request):
        annotations.update({k: v for k, v in old_annotations.items() if k in APPROVAL_KEYS})
        return Verdict(True, annotations=annotations)
    if not approval:
        return Verdict(True, annotations=annotations)  # cleared: no approver any more
    claimed = str(approval.get("approvedBy") or "")
    claim: str | None = None
    if claimed and claimed != user.username:
        if user.username not in policy.trusted_appliers:
            return Verdict(
                False,
                f'spec.approval.approvedBy of {where} says "{claimed}", but the request comes '
                f'from "{user.username}": approvedBy may only name the requester (or be left '
                "out; the cluster records who approved)",
                code=403,
            )
        claim = claimed
    if four_eyes(request):
        if model_changed_by is None:
            return Verdict(
                False,
                f"four-eyes: nobody knows who last changed the spec of the Model of {where} "
                "(it changed while the webhook was not answering); change it again, or "
                "approve after someone else does",
                code=403,
            )
        authors = {
            "spec.version": annotations.get(VERSION_CHANGED_BY, ""),
            "the Model's spec": model_changed_by,
        }
        for what, author in authors.items():
            if author and author == user.username:
                return Verdict(
                    False,
                    f"four-eyes: {who(user)} last changed {what} of {where} and may not also "
                    "approve it; another approver must",
                    code=403,
                )
    identity = ApproverIdentity(
        user=user.username,
        groups=tuple(user.groups),
        at=now,
        of=fingerprint(approval),
        claim=claim,
    )
    annotations.update(identity.annotations())
    return Verdict(True, annotations=annotations)


def patch_for(request: AdmissionRequest, verdict: Verdict) -> list[Obj]:
    """The JSON patch that gives the object the verdict's annotations ([] when it has them)."""
    if not verdict.allowed or verdict.annotations == _annotations(request.new):
        return []
    return [{"op": "add", "path": "/metadata/annotations", "value": verdict.annotations}]
