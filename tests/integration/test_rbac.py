"""The RBAC in manifests/ on the real API server: what the operator and users may and may not do.

What the operator needs is derived from its code, not restated (support/rbac.py): every
client-layer call on a `Resource` of modelship.operator.kube.client in the modules `python -m
modelship.operator` loads, every Kopf handler's watched resource, plus what Kopf itself uses.
Each is then asked of the API server for the operator's ServiceAccount (SubjectAccessReview, the
same check every request goes through), and a few are tried for real with the account's own token.
tests/unit/test_rbac_scan.py shows the derivation itself can fail.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import kubernetes
import pytest
import yaml

from modelship.api.v1alpha1 import GROUP
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS
from support.accounts import service_account_token
from support.kubectl import MANIFESTS, WEBHOOK_KINDS, Kubectl, render
from support.rbac import NOT_FOR_THE_SERVICE_ACCOUNT, Need, operator_needs, unscanned
from support.waiting import wait_for

pytestmark = pytest.mark.integration
OPERATOR = "system:serviceaccount:modelship-system:modelship-operator"
OPERATOR_GROUPS = [
    "system:serviceaccounts",
    "system:serviceaccounts:modelship-system",
    "system:authenticated",
]
SAMPLE = MANIFESTS / "samples" / "deployment-iris.yaml"
LEASE = ("coordination.k8s.io", "leases", "")
SECRET = ("", "secrets", "")
# What the operator may touch only by name: in its own namespace, and cluster-scoped.
OWN_NAMED = {
    ("coordination.k8s.io", "leases"): "modelship-operator",
    ("", "secrets"): "modelship-operator-webhook-tls",
}
CLUSTER_NAMED = {
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): "modelship-approvals",
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): "modelship-approvals",
}


def review(
    api: Any, user: str, groups: list[str], need: Need, namespace: str | None, name: str = ""
) -> bool:
    verb, group, resource, subresource = need
    attributes = {"verb": verb, "group": group, "resource": resource}
    if subresource:
        attributes["subresource"] = subresource
    if namespace:
        attributes["namespace"] = namespace
    if name:
        attributes["name"] = name
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": groups, "resourceAttributes": attributes},
    }
    result = kubernetes.client.AuthorizationV1Api(api).create_subject_access_review(body)
    return bool(result.status.allowed)


@pytest.fixture(scope="module")
def installed(kubectl: Kubectl) -> None:
    """manifests/default without the operator Deployment: RBAC is what is under test here."""
    kubectl.apply(
        [
            d
            for d in render("default")
            if d["kind"] != "Deployment" and d["kind"] not in WEBHOOK_KINDS
        ]
    )


@pytest.fixture(scope="module")
def operator_token(installed: None, kube_api: Any) -> str:
    core = kubernetes.client.CoreV1Api(kube_api)

    return service_account_token(core, "modelship-system", "modelship-operator")


def test_the_operator_can_do_everything_its_code_and_kopf_need(
    installed: None, kube_api: Any, namespace: str
) -> None:
    found, touched = operator_needs()
    # Every resource the code refers to has needs: no call went unread by the scan.
    assert unscanned(touched, found) == []
    needs = found - NOT_FOR_THE_SERVICE_ACCOUNT
    # The derivation found the loop's core; if these vanish, the scan broke, not the code.
    assert ("create", "batch", "jobs", "") in needs
    assert ("patch", GROUP, "trainingjobs", "status") in needs
    assert ("delete", "apps", "deployments", "") in needs
    assert ("watch", GROUP, "deployments", "") in needs
    assert ("create", "policy", "poddisruptionbudgets", "") in needs
    assert ("patch", "coordination.k8s.io", "leases", "") in needs
    assert ("patch", "", "secrets", "") in needs
    # The leader Lease and the webhook's Secret are granted in the operator's own namespace
    # only (Roles, not the ClusterRole), and the webhook configurations by name.
    own = {n for n in needs if (n[1], n[2]) in OWN_NAMED}
    named = {n for n in needs if (n[1], n[2]) in CLUSTER_NAMED}
    assert named == {
        (verb, "admissionregistration.k8s.io", plural, "")
        for verb in ("get", "patch")
        for plural in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
    }
    denied_named = sorted(
        n for n in named
        if not review(kube_api, OPERATOR, OPERATOR_GROUPS, n, None, CLUSTER_NAMED[(n[1], n[2])])
    )  # fmt: skip
    assert denied_named == [], f"the operator's ClusterRole lacks {denied_named}"
    cluster_wide = needs - own - named
    denied = sorted(
        n for n in cluster_wide if not review(kube_api, OPERATOR, OPERATOR_GROUPS, n, None)
    )
    assert denied == [], f"the operator's ClusterRole lacks {denied}"
    # Granted cluster-wide, so in any model namespace too.
    denied_here = sorted(
        n for n in cluster_wide if not review(kube_api, OPERATOR, OPERATOR_GROUPS, n, namespace)
    )
    assert denied_here == []
    # Get and patch are granted for the operator's Lease and Secret by name; create cannot be
    # limited so.
    system = "modelship-system"
    denied_own = sorted(
        n for n in own
        if not review(kube_api, OPERATOR, OPERATOR_GROUPS, n, system, OWN_NAMED[(n[1], n[2])])
    )  # fmt: skip
    assert denied_own == [], f"the leader-election or webhook-certificates Role lacks {denied_own}"
    # ... and no other Lease or Secret: not another one there, not any in a model namespace.
    for resource in (LEASE, SECRET):
        for verb in ("get", "patch"):
            need = (verb, *resource)
            assert not review(kube_api, OPERATOR, OPERATOR_GROUPS, need, system, "other"), need
    assert not any(
        review(kube_api, OPERATOR, OPERATOR_GROUPS, n, namespace, OWN_NAMED[(n[1], n[2])])
        for n in own
    )


FORBIDDEN: list[Need] = [
    # ConfigMaps, ServiceAccounts, Roles and RoleBindings are granted for the canary router (its
    # routing table and its own narrowly scoped identity); the API server still lets the operator
    # grant only rights it holds itself: no escalate, no bind (below).
    ("get", "", "secrets", ""),
    ("list", "", "secrets", ""),
    ("watch", "", "secrets", ""),
    ("delete", "", "namespaces", ""),
    ("create", "", "namespaces", ""),
    ("create", "", "pods", ""),
    ("create", "", "pods", "exec"),
    ("delete", "", "pods", ""),
    ("create", "", "serviceaccounts", "token"),
    ("delete", "", "persistentvolumeclaims", ""),
    # ("delete", "batch", "jobs") is granted since file:// dataset probes: the operator deletes
    # its older probe Jobs (TTL-after-finished is not served before 1.21). It can create Jobs
    # anyway, which is the larger power.
    ("update", "apps", "deployments", ""),
    ("get", "apps", "daemonsets", ""),
    ("create", GROUP, "models", ""),
    ("delete", GROUP, "models", ""),
    ("create", GROUP, "deployments", ""),
    ("update", "apiextensions.k8s.io", "customresourcedefinitions", ""),
    ("patch", "apiextensions.k8s.io", "customresourcedefinitions", ""),
    ("list", "kopf.dev", "clusterkopfpeerings", ""),
    ("patch", "", "nodes", ""),
    # Escalation: no RBAC writes, no bind/escalate, no impersonation, no certificates.
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings", ""),
    ("update", "rbac.authorization.k8s.io", "clusterroles", ""),
    ("escalate", "rbac.authorization.k8s.io", "clusterroles", ""),
    ("bind", "rbac.authorization.k8s.io", "clusterroles", ""),
    ("escalate", "rbac.authorization.k8s.io", "roles", ""),
    ("bind", "rbac.authorization.k8s.io", "roles", ""),
    ("impersonate", "", "users", ""),
    ("impersonate", "", "serviceaccounts", ""),
    ("impersonate", "", "groups", ""),
    ("create", "certificates.k8s.io", "certificatesigningrequests", ""),
    ("create", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", ""),
]


@pytest.mark.parametrize("need", FORBIDDEN, ids=lambda n: "-".join(p for p in n if p))
def test_the_operator_cannot_step_outside_its_list(
    installed: None, kube_api: Any, namespace: str, need: Need
) -> None:
    assert not review(kube_api, OPERATOR, OPERATOR_GROUPS, need, namespace)
    if need[2] not in ("namespaces", "nodes") and "rbac" not in need[1]:
        assert not review(kube_api, OPERATOR, OPERATOR_GROUPS, need, None)


def test_the_operators_own_token_reads_models_but_no_secrets(
    kubectl: Kubectl, operator_token: str, namespace: str
) -> None:
    """Not a review: real requests, authenticated with the ServiceAccount's token."""
    as_operator = ("--token", operator_token)
    ok = kubectl(*as_operator, "get", "models.modelship.io", "-A", check=False)
    assert ok.returncode == 0, ok.stderr
    for attempt in (
        ("get", "secrets", "-n", namespace),
        ("delete", "namespace", namespace, "--dry-run=server"),
        ("create", "clusterrolebinding", "grab", "--clusterrole=cluster-admin",
         "--serviceaccount=modelship-system:modelship-operator", "--dry-run=server"),
        ("run", "shell", "-n", namespace, "--image=busybox", "--dry-run=server"),
    ):  # fmt: skip
        result = kubectl(*as_operator, *attempt, check=False)
        assert result.returncode != 0
        assert "forbidden" in result.stderr.lower(), result.stderr


# --- roles for people ------------------------------------------------------------------------

APPROVAL = {
    "spec": {"approval": {"version": 1, "digest": "sha256:" + "ab" * 32, "approvedBy": "someone"}}
}


@pytest.fixture
def people(installed: None, kube_api: Any, namespace: str) -> dict[str, str]:
    """Users bound in `namespace`: to our roles directly, and to the built-in view/edit."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube_api)
    suffix = uuid.uuid4().hex[:6]
    users = {
        "modelship-view": f"viewer-{suffix}",
        "modelship-edit": f"editor-{suffix}",
        "modelship-admin": f"admin-{suffix}",
        "modelship-approver": f"approver-{suffix}",
        "view": f"builtin-viewer-{suffix}",
        "edit": f"builtin-editor-{suffix}",
        "admin": f"builtin-admin-{suffix}",
    }
    for role, user in users.items():
        rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": f"{role}-{user}"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                              "name": user}],
            },
        )  # fmt: skip
    return users


def allowed(kube_api: Any, user: str, verb: str, resource: str, namespace: str) -> bool:
    return review(kube_api, user, ["system:authenticated"], (verb, GROUP, resource, ""), namespace)


def test_view_reads_all_three_kinds_and_cannot_approve(
    kube_api: Any, namespace: str, people: dict[str, str], kubectl: Kubectl, kube: Any
) -> None:
    for role in ("modelship-view", "view"):
        user = people[role]
        # The built-in `view` gets our rules by aggregation, done by a controller: wait for it.
        wait_for(
            lambda user=user: all(
                allowed(kube_api, user, verb, kind, namespace)
                for kind in ("models", "trainingjobs", "deployments")
                for verb in ("get", "list", "watch")
            ),
            timeout=60,
            what=f"{role} to read models, trainingjobs and deployments",
        )
        for verb in ("create", "update", "patch", "delete"):
            assert not allowed(kube_api, user, verb, "deployments", namespace), (role, verb)
        assert not review(kube_api, user, [], ("patch", GROUP, "deployments", "status"), namespace)

    sample = yaml.safe_load(SAMPLE.read_text())
    kube.create(MODEL_DEPLOYMENTS, namespace, sample)
    patch = json.dumps(APPROVAL)
    refused = kubectl(
        f"--as={people['modelship-view']}", "-n", namespace,
        "patch", "deployments.modelship.io", "iris", "--type=merge", "-p", patch, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr
    assert "approval" not in kube.get(MODEL_DEPLOYMENTS, namespace, "iris")["spec"]


def test_edit_and_admin_may_change_deployments(
    kube_api: Any, namespace: str, people: dict[str, str], kubectl: Kubectl, kube: Any
) -> None:
    for role in ("modelship-edit", "modelship-admin", "edit"):
        user = people[role]
        wait_for(
            lambda user=user: allowed(kube_api, user, "patch", "deployments", namespace),
            timeout=60,
            what=f"{role} to patch modelship deployments",
        )
        for kind in ("models", "trainingjobs", "deployments"):
            for verb in ("get", "list", "watch", "create", "update", "delete"):
                assert allowed(kube_api, user, verb, kind, namespace), (role, verb, kind)
        # Status belongs to the operator, for everyone.
        assert not review(kube_api, user, [], ("patch", GROUP, "deployments", "status"), namespace)
    assert allowed(kube_api, people["modelship-admin"], "deletecollection", "models", namespace)
    assert not allowed(kube_api, people["modelship-edit"], "deletecollection", "models", namespace)

    sample = yaml.safe_load(SAMPLE.read_text())
    kube.create(MODEL_DEPLOYMENTS, namespace, sample)
    changed = kubectl(
        f"--as={people['modelship-edit']}", "-n", namespace, "patch", "deployments.modelship.io",
        "iris", "--type=merge", "-p", '{"spec": {"test": {"replicas": 2}}}', check=False,
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    # None of them may read Secrets through our roles (built-in edit may; that is not ours).
    for role in ("modelship-view", "modelship-edit", "modelship-admin"):
        assert not review(kube_api, people[role], [], ("get", "", "secrets", ""), namespace)


APPROVE: Need = ("approve", GROUP, "deployments", "approval")


def test_only_approvers_and_admin_may_approve_and_edit_no_longer_implies_it(
    kube_api: Any, namespace: str, people: dict[str, str]
) -> None:
    """The right the admission webhook asks the authorizer about (test_approvals_live shows the
    webhook enforcing it): the verb approve on deployments/approval, nothing else."""

    def may_approve(user: str, where: str | None = namespace) -> bool:
        return review(kube_api, user, ["system:authenticated"], APPROVE, where, "iris")

    wait_for(
        lambda: may_approve(people["admin"]),
        timeout=60,
        what="admin to aggregate the approve right",
    )
    assert may_approve(people["modelship-approver"])
    for role in ("modelship-view", "modelship-edit", "modelship-admin", "view", "edit"):
        assert not may_approve(people[role]), role
    # Bound in one namespace only: no approving elsewhere.
    assert not may_approve(people["modelship-approver"], "default")
    # The role grants exactly that: no reading, no writing of anything.
    approver = people["modelship-approver"]
    for verb in ("get", "patch", "update"):
        assert not allowed(kube_api, approver, verb, "deployments", namespace), verb
    assert not review(kube_api, approver, [], ("approve", GROUP, "models", "approval"), namespace)


def test_the_operator_may_ask_the_authorizer_and_set_only_its_own_webhooks_ca(
    installed: None, kube_api: Any
) -> None:
    sar: Need = ("create", "authorization.k8s.io", "subjectaccessreviews", "")
    assert review(kube_api, OPERATOR, OPERATOR_GROUPS, sar, None)
    for plural in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        for verb in ("get", "patch"):
            need: Need = (verb, "admissionregistration.k8s.io", plural, "")
            assert review(kube_api, OPERATOR, OPERATOR_GROUPS, need, None, "modelship-approvals")
            # Not another configuration, nor all of them.
            assert not review(kube_api, OPERATOR, OPERATOR_GROUPS, need, None, "someone-elses")
            assert not review(kube_api, OPERATOR, OPERATOR_GROUPS, need, None)
        for verb in ("create", "update", "delete", "list", "watch"):
            need = (verb, "admissionregistration.k8s.io", plural, "")
            assert not review(kube_api, OPERATOR, OPERATOR_GROUPS, need, None), need
            assert not review(
                kube_api, OPERATOR, OPERATOR_GROUPS, need, None, "modelship-approvals"
            ), need
