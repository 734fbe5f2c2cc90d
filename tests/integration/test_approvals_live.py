"""Approvals on the local cluster go through the operator's admission webhook, as real users.

Users are the admin's impersonations (`kubectl --as`): the API server authenticates them as
those users, so the webhook sees them in `userInfo` exactly as it would see people with their
own credentials. `alice` may edit modelship Deployments in the namespace; `bob` and `carol` may
also approve (the ClusterRole modelship-approver). The webhook runs in the operator process of
this module (support/operator.py points the shipped configurations at it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from modelship.cli.approve import approval_for
from modelship.contracts.approval import APPROVED_BY, APPROVED_GROUPS, model_spec_author
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS
from support.factories import iris_deployment, iris_model
from support.kubectl import MANIFESTS, Kubectl
from support.live import awaiting_approval, condition, production_version, wait_for_status
from support.operator import OperatorProcess
from support.target import Target
from support.webhook import remove_webhook_configurations

pytestmark = pytest.mark.integration
ALICE, BOB, CAROL, DAVE = "alice", "bob", "carol", "dave"
# A GitOps controller's account: it applies approvals committed by people.
GITOPS = "system:serviceaccount:gitops:applier"
APPROVERS = "ml-approvers"
USER_ROLES = MANIFESTS / "rbac" / "user_roles.yaml"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def operator(
    target: Target, cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator as a process, its webhook serving the cluster, GITOPS a trusted applier."""
    if target.operator_deployed:
        pytest.fail("this module runs the operator as a local process (with a trusted applier)")
    process = OperatorProcess(
        cluster_kubeconfig,
        tmp_path_factory.mktemp("operator"),
        approval_trusted_appliers=json.dumps([GITOPS]),
    )
    process.start()
    process.serve_webhooks()
    yield process
    remove_webhook_configurations(cluster_kubeconfig)
    process.stop()


def bind(kube_api: Any, namespace: str, role: str, users: list[str]) -> None:
    subjects = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": u} for u in users]
    kubernetes.client.RbacAuthorizationV1Api(kube_api).create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": role},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": subjects,
        },
    )


def patch_as(
    kubectl: Kubectl, user: str, namespace: str, patch: Obj, kind: str = "deployments"
) -> Any:
    """`kubectl patch` of the iris Deployment (or Model) as `user` (a member of APPROVERS)."""
    return kubectl(
        f"--as={user}", f"--as-group={APPROVERS}", "--as-group=system:authenticated",
        "-n", namespace, "patch", f"{kind}.modelship.io", "iris", "--type=merge",
        "-p", json.dumps(patch), check=False,
    )  # fmt: skip


def events_of(kube_api: Any, namespace: str, reason: str) -> list[str]:
    found = kubernetes.client.CoreV1Api(kube_api).list_namespaced_event(
        namespace, field_selector="involvedObject.name=iris"
    )
    return [e.message for e in found.items if e.reason == reason]


def test_only_approvers_approve_and_the_cluster_records_who_did(
    operator: OperatorProcess, kube: Kube, kube_api: Any, kubectl: Kubectl, namespace: str
) -> None:
    kubectl("apply", "-f", str(USER_ROLES))
    bind(kube_api, namespace, "edit", [ALICE, BOB, CAROL, DAVE, GITOPS])
    bind(kube_api, namespace, "modelship-approver", [BOB, CAROL, DAVE, GITOPS])
    kube.create(MODELS, namespace, iris_model("iris"))
    kube.create(MODEL_DEPLOYMENTS, namespace, iris_deployment("iris"))
    status = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris", awaiting_approval(1), timeout=240,
        describe=operator.tail,
    )  # fmt: skip
    approval = approval_for(status, None)
    # The Model's author is on record too (four-eyes reads it), for the generation it made.
    assert model_spec_author(kube.get(MODELS, namespace, "iris")) is not None

    # Written while no webhook was installed: no approver is known, so nothing is promoted.
    remove_webhook_configurations(kubectl.kubeconfig)
    kube.patch(MODEL_DEPLOYMENTS, namespace, "iris", {"spec": {"approval": approval}})
    unknown = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris",
        lambda s: condition(s, "Approved")["reason"] == "ApproverUnknown", describe=operator.tail,
    )  # fmt: skip
    assert "no approver recorded" in condition(unknown, "Approved")["message"]
    assert unknown.get("production") is None and production_version(kube, namespace, "iris") is None
    operator.serve_webhooks()
    kube.patch(MODEL_DEPLOYMENTS, namespace, "iris", {"spec": {"approval": None}})  # the admin

    # An editor who is not an approver is refused, with who lacked which right.
    refused = patch_as(kubectl, ALICE, namespace, {"spec": {"approval": approval}})
    assert refused.returncode != 0
    assert "denied the request" in refused.stderr and f'user "{ALICE}"' in refused.stderr
    assert "verb approve on deployments/approval" in refused.stderr, refused.stderr
    body = kube.get(MODEL_DEPLOYMENTS, namespace, "iris") or {}
    assert "approval" not in body["spec"]
    assert production_version(kube, namespace, "iris") is None

    # A typed approvedBy naming someone else is refused, even from an approver.
    spoofed = patch_as(
        kubectl, BOB, namespace, {"spec": {"approval": {**approval, "approvedBy": CAROL}}}
    )
    assert spoofed.returncode != 0 and f'says "{CAROL}"' in spoofed.stderr, spoofed.stderr
    # ... and so is an annotation claiming to be the record: it is put back, not taken.
    forged = patch_as(
        kubectl, ALICE, namespace, {"metadata": {"annotations": {APPROVED_BY: ALICE}}}
    )
    assert forged.returncode == 0, forged.stderr
    body = kube.get(MODEL_DEPLOYMENTS, namespace, "iris") or {}
    assert APPROVED_BY not in body["metadata"].get("annotations", {})

    # An approver approves: status, the Approved condition, history and the Event name them.
    approved = patch_as(kubectl, BOB, namespace, {"spec": {"approval": approval}})
    assert approved.returncode == 0, approved.stderr
    annotations = (kube.get(MODEL_DEPLOYMENTS, namespace, "iris") or {})["metadata"]["annotations"]
    assert annotations[APPROVED_BY] == BOB and APPROVERS in json.loads(annotations[APPROVED_GROUPS])
    serving = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris", lambda s: s.get("phase") == "Serving",
        timeout=180, describe=operator.tail,
    )  # fmt: skip
    assert serving["production"]["version"] == 1 and serving["production"]["approvedBy"] == BOB
    assert (
        condition(serving, "Approved")["message"]
        == f"version 1 is approved by {BOB} and in production"
    )
    promoting = next(h for h in serving["history"] if h["event"] == "Promoting")
    assert promoting["message"] == f"version 1 approved by {BOB}"
    assert events_of(kube_api, namespace, "Promoting") == [
        f"promoting version 1: version 1 approved by {BOB}"
    ]

    # Four-eyes: only an approver may turn it on; then the identity that last changed
    # spec.version may not approve it, and another approver may.
    four_eyes = {"spec": {"approvalPolicy": {"fourEyes": True}}}
    refused = patch_as(kubectl, ALICE, namespace, four_eyes)
    assert refused.returncode != 0 and "spec.approvalPolicy" in refused.stderr, refused.stderr
    assert patch_as(kubectl, BOB, namespace, four_eyes).returncode == 0
    changed = patch_as(kubectl, BOB, namespace, {"spec": {"version": "1", "approval": None}})
    assert changed.returncode == 0, changed.stderr
    own = patch_as(kubectl, BOB, namespace, {"spec": {"approval": approval}})
    assert own.returncode != 0 and "four-eyes" in own.stderr and "spec.version" in own.stderr
    other = patch_as(kubectl, CAROL, namespace, {"spec": {"approval": approval}})
    assert other.returncode == 0, other.stderr
    by_carol = f"version 1 is approved by {CAROL} and in production"
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris",
        lambda s: condition(s, "Approved")["message"] == by_carol, describe=operator.tail,
    )  # fmt: skip

    # A trusted applier (GitOps) passes the commit author on: recorded as a claim beside it.
    committed = {**approval, "approvedBy": "jane@example.com"}
    applied = patch_as(kubectl, GITOPS, namespace, {"spec": {"approval": committed}})
    assert applied.returncode == 0, applied.stderr
    claimed = f"version 1 is approved by {GITOPS} (for jane@example.com) and in production"
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris",
        lambda s: condition(s, "Approved")["message"] == claimed, describe=operator.tail,
    )  # fmt: skip
    # ... which nobody else may do.
    typed = {**approval, "approvedBy": "joe@example.com"}
    refused = patch_as(kubectl, CAROL, namespace, {"spec": {"approval": typed}})
    assert refused.returncode != 0 and 'says "joe@example.com"' in refused.stderr, refused.stderr

    # Four-eyes covers the Model too: who changed its spec may not approve what it trained.
    assert patch_as(kubectl, BOB, namespace, {"spec": {"version": "latest"}}).returncode == 0
    retrained = patch_as(
        kubectl, CAROL, namespace, {"spec": {"evaluation": {"seed": 11}}}, "models"
    )
    assert retrained.returncode == 0, retrained.stderr
    status = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris", awaiting_approval(2), timeout=240,
        describe=operator.tail,
    )  # fmt: skip
    second = approval_for(status, None)
    # As `modelship approve` does: a merge patch would otherwise keep the earlier approvedBy.
    replace = {"spec": {"approval": {"approvedBy": None, **second}}}
    by_carol = patch_as(kubectl, CAROL, namespace, replace)
    assert by_carol.returncode != 0 and "the Model's spec" in by_carol.stderr, by_carol.stderr
    by_bob = patch_as(kubectl, BOB, namespace, replace)
    assert by_bob.returncode != 0 and "spec.version" in by_bob.stderr, by_bob.stderr
    assert patch_as(kubectl, DAVE, namespace, replace).returncode == 0
    promoted = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris",
        lambda s: (s.get("production") or {}).get("version") == 2, timeout=180,
        describe=operator.tail,
    )  # fmt: skip
    assert promoted["production"]["approvedBy"] == DAVE

    # No replica answers: approvals are refused and production is untouched; Models, status
    # and everything else in the cluster are not affected.
    operator.stop()
    try:
        down = kubectl(
            "-n", namespace, "patch", "deployments.modelship.io", "iris", "--type=merge",
            "-p", json.dumps({"spec": {"approval": {"version": 1}}}), check=False,
        )  # fmt: skip
        assert down.returncode != 0 and "failed calling webhook" in down.stderr, down.stderr
        body = kube.get(MODEL_DEPLOYMENTS, namespace, "iris") or {}
        assert body["spec"]["approval"] == second
        assert body["status"]["production"]["version"] == 2
        assert production_version(kube, namespace, "iris") == "2"
        kube.patch(MODELS, namespace, "iris", {"metadata": {"labels": {"team": "ml"}}})
        kube.patch(
            MODEL_DEPLOYMENTS, namespace, "iris", {"status": {"phase": "Serving"}}, status=True
        )
        kubectl("create", "configmap", "unaffected", "-n", namespace)
    finally:
        operator.start()
        operator.serve_webhooks()
