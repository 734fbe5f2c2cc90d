"""The approval webhook's decision, as a table of requests: who may approve, what is recorded."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from modelship.contracts.approval import (
    APPROVAL_CLAIM,
    APPROVED_BY,
    APPROVED_OF,
    SPEC_CHANGED_BY,
    SPEC_CHANGED_GENERATION,
    VERSION_CHANGED_BY,
    fingerprint,
    identity_for,
    model_spec_author,
)
from modelship.operator.admission.review import (
    AdmissionRequest,
    ReviewPolicy,
    needs_approve_right,
    patch_for,
    review,
)
from modelship.operator.admission.server import access_review, response

Obj = dict[str, Any]
NOW = "2026-12-02T09:00:00Z"
APPROVAL = {"version": 2, "digest": "sha256:" + "ab" * 32}
POLICY = ReviewPolicy(trusted_appliers=frozenset({"system:serviceaccount:flux:kustomize"}))


def deployment(
    approval: Obj | None = None, annotations: dict[str, str] | None = None, **spec: Any
) -> Obj:
    body: Obj = {
        "metadata": {"name": "iris", "namespace": "ml", "annotations": dict(annotations or {})},
        "spec": {"modelRef": {"name": "iris"}, "version": "latest", **spec},
    }
    if approval is not None:
        body["spec"]["approval"] = approval
    return body


def request(
    new: Obj, old: Obj | None = None, user: str = "alice", plural: str = "deployments"
) -> AdmissionRequest:
    return AdmissionRequest.model_validate(
        {
            "uid": "req-1",
            "operation": "UPDATE" if old is not None else "CREATE",
            "namespace": "ml",
            "name": "iris",
            "resource": {"group": "modelship.io", "version": "v1alpha1", "resource": plural},
            "userInfo": {
                "username": user,
                "uid": "u-1",
                "groups": ["approvers", "system:authenticated"],
            },
            "object": new,
            "oldObject": old,
        }
    )


def approve(
    user: str = "bob", approval: Obj = APPROVAL, old: Obj | None = None
) -> AdmissionRequest:
    return request(deployment(approval), old if old is not None else deployment(), user)


def test_setting_an_approval_without_the_right_is_refused_with_who_lacked_what() -> None:
    req = approve("alice")
    assert needs_approve_right(req)
    verdict = review(req, False, NOW, POLICY)
    assert not verdict.allowed and verdict.code == 403
    assert verdict.message == (
        'user "alice" (groups: approvers) may not change spec.approval of deployment "iris" in '
        'namespace "ml": it needs the verb approve on deployments/approval (group modelship.io), '
        "e.g. through the ClusterRole modelship-approver"
    )
    assert patch_for(req, verdict) == []


def test_an_unanswered_authorizer_is_a_refusal() -> None:
    assert not review(approve(), None, NOW, POLICY).allowed


def test_an_approval_with_the_right_records_the_requester_from_the_request() -> None:
    req = approve("bob")
    verdict = review(req, True, NOW, POLICY)
    assert verdict.allowed
    identity = identity_for(verdict.annotations, APPROVAL)
    assert identity is not None
    assert (identity.user, identity.groups, identity.at) == (
        "bob",
        ("approvers", "system:authenticated"),
        NOW,
    )
    assert identity.claim is None and identity.display == "bob"
    [op] = patch_for(req, verdict)
    assert op == {"op": "add", "path": "/metadata/annotations", "value": verdict.annotations}


def test_approved_by_must_name_the_requester_or_be_left_out() -> None:
    spoofed = approve("bob", {**APPROVAL, "approvedBy": "carol"})
    verdict = review(spoofed, True, NOW, POLICY)
    assert not verdict.allowed and verdict.code == 403
    assert 'says "carol", but the request comes from "bob"' in verdict.message
    honest = review(approve("bob", {**APPROVAL, "approvedBy": "bob"}), True, NOW, POLICY)
    assert honest.allowed and honest.annotations[APPROVED_BY] == "bob"


def test_a_trusted_applier_passes_approved_by_on_as_a_claim_beside_its_own_identity() -> None:
    gitops = "system:serviceaccount:flux:kustomize"
    approval = {**APPROVAL, "approvedBy": "carol@example.com"}
    verdict = review(approve(gitops, approval), True, NOW, POLICY)
    assert verdict.allowed
    identity = identity_for(verdict.annotations, approval)
    assert identity is not None and identity.user == gitops
    assert verdict.annotations[APPROVAL_CLAIM] == "carol@example.com"
    assert identity.display == f"{gitops} (for carol@example.com)"


def test_other_changes_need_no_right_and_keep_the_recorded_identity_unforgeable() -> None:
    recorded = review(approve("bob"), True, NOW, POLICY).annotations
    old = deployment(APPROVAL, recorded)
    forged = deployment(APPROVAL, {**recorded, APPROVED_BY: "mallory", "team": "ml"})
    forged["spec"]["test"] = {"replicas": 2}
    req = request(forged, old, user="mallory")
    assert not needs_approve_right(req)
    verdict = review(req, None, NOW, POLICY)
    assert verdict.allowed
    assert verdict.annotations == {**recorded, "team": "ml"}  # the record is put back
    assert patch_for(req, verdict)


def test_clearing_an_approval_needs_the_right_and_removes_the_record() -> None:
    recorded = review(approve("bob"), True, NOW, POLICY).annotations
    req = request(deployment(None, recorded), deployment(APPROVAL, recorded), "alice")
    assert needs_approve_right(req)
    assert not review(req, False, NOW, POLICY).allowed
    cleared = review(req, True, NOW, POLICY)
    assert cleared.allowed and APPROVED_BY not in cleared.annotations
    assert APPROVED_OF not in cleared.annotations


def test_changing_the_approval_policy_needs_the_right() -> None:
    old = deployment()
    new = deployment(approvalPolicy={"fourEyes": False})
    old["spec"]["approvalPolicy"] = {"fourEyes": True}
    req = request(new, old, "alice")
    assert needs_approve_right(req)
    assert "spec.approvalPolicy" in review(req, False, NOW, POLICY).message


def test_who_changed_spec_version_is_recorded_and_unforgeable() -> None:
    created = review(request(deployment(), None, "alice"), None, NOW, POLICY)
    assert created.annotations[VERSION_CHANGED_BY] == "alice"
    old = deployment(annotations=created.annotations)
    bumped = review(
        request(deployment(annotations=created.annotations, version="3"), old, "dave"),
        None,
        NOW,
        POLICY,
    )
    assert bumped.annotations[VERSION_CHANGED_BY] == "dave"
    forged = deployment(annotations={VERSION_CHANGED_BY: "nobody"})
    kept = review(request(forged, old, "dave"), None, NOW, POLICY)
    assert kept.annotations[VERSION_CHANGED_BY] == "alice"


@pytest.mark.parametrize(
    ("version_author", "model_author", "refused"),
    [
        ("bob", "carol", "last changed spec.version"),
        ("carol", "bob", "last changed the Model's spec"),
        ("carol", None, "nobody knows who last changed the spec of the Model"),
        ("carol", "dave", ""),
    ],
    ids=["own-version", "own-model", "unknown-model-author", "someone-else"],
)
def test_four_eyes_refuses_an_approval_by_who_last_changed_what_is_approved(
    version_author: str, model_author: str | None, refused: str
) -> None:
    policy = {"fourEyes": True}
    old = deployment(annotations={VERSION_CHANGED_BY: version_author}, approvalPolicy=policy)
    new = deployment(APPROVAL, {VERSION_CHANGED_BY: version_author}, approvalPolicy=policy)
    verdict = review(request(new, old, "bob"), True, NOW, POLICY, model_author)
    assert verdict.allowed is (not refused)
    assert refused in verdict.message


def test_a_models_spec_author_is_recorded_with_the_generation_it_produces() -> None:
    model = {
        "metadata": {"name": "iris", "generation": 4, "annotations": {}},
        "spec": {"task": "classification"},
    }
    changed = {**model, "spec": {"task": "regression"}}
    verdict = review(request(changed, model, "alice", "models"), None, NOW, POLICY)
    assert verdict.annotations == {SPEC_CHANGED_BY: "alice", SPEC_CHANGED_GENERATION: "5"}
    stored = {
        **changed,
        "metadata": {**model["metadata"], "generation": 5, "annotations": verdict.annotations},
    }
    assert model_spec_author(stored) == "alice"
    # A spec change the webhook did not see (it was down: failurePolicy Ignore) leaves an author
    # of an older generation: unknown, so four-eyes refuses rather than trusts it.
    assert (
        model_spec_author({**stored, "metadata": {**stored["metadata"], "generation": 6}}) is None
    )
    labelled = {**stored, "metadata": {**stored["metadata"], "annotations": {SPEC_CHANGED_BY: "x"}}}
    untouched = review(request(labelled, stored, "mallory", "models"), None, NOW, POLICY)
    assert untouched.annotations[SPEC_CHANGED_BY] == "alice"


def test_the_access_review_and_the_answer_are_what_the_api_server_expects() -> None:
    req = approve("bob")
    spec = access_review(req)["spec"]
    assert spec["user"] == "bob" and spec["groups"] == ["approvers", "system:authenticated"]
    assert spec["resourceAttributes"] == {
        "group": "modelship.io",
        "resource": "deployments",
        "subresource": "approval",
        "verb": "approve",
        "namespace": "ml",
        "name": "iris",
    }
    verdict = review(req, True, NOW, POLICY)
    answer = response("req-1", verdict, patch_for(req, verdict))["response"]
    assert answer["uid"] == "req-1" and answer["allowed"] is True
    assert answer["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(answer["patch"]))[0]["value"][APPROVED_BY] == "bob"
    refusal = response("req-1", review(req, False, NOW, POLICY), [])["response"]
    assert refusal["allowed"] is False and refusal["status"]["code"] == 403


def test_a_record_belongs_to_exactly_one_approval() -> None:
    annotations = review(approve("bob"), True, NOW, POLICY).annotations
    assert identity_for(annotations, APPROVAL) is not None
    assert identity_for(annotations, {**APPROVAL, "version": 3}) is None
    assert identity_for({}, APPROVAL) is None
    assert fingerprint(None) == ""


@pytest.mark.parametrize(
    ("key", "value"), [("modelship.io/promote", "2/1"), ("modelship.io/abort", "2")]
)
def test_promoting_or_aborting_a_canary_needs_the_approve_right(key: str, value: str) -> None:
    old = deployment(APPROVAL)
    req = request(deployment(APPROVAL, {key: value}), old, user="alice")
    assert needs_approve_right(req)
    refused = review(req, False, NOW, POLICY)
    assert not refused.allowed and refused.code == 403
    assert "may not change the canary (modelship promote/abort)" in refused.message
    assert review(req, True, NOW, POLICY).allowed
    untouched = request(deployment(APPROVAL, {key: value}), deployment(APPROVAL, {key: value}))
    assert not needs_approve_right(untouched)  # carrying it over unchanged needs nothing
