"""The RBAC in manifests/ on the real API server: what the operator and users may and may not do.

What the operator needs is derived from its code, not restated: every client-layer call
(`kube.get/list/create/ensure/patch/replace/delete` on a `Resource` of modelship.operator.kube)
in the modules `python -m modelship.operator` loads, every Kopf handler's watched resource (Kopf
lists, watches and patches them), plus what Kopf itself uses. Each is then asked of the API
server for the operator's ServiceAccount (SubjectAccessReview, the same check every request
goes through), and a few are tried for real with the account's own token.
"""

from __future__ import annotations

import ast
import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from modelship.api.v1alpha1 import GROUP
from modelship.operator import kube as kube_module
from modelship.operator.kube import MODEL_DEPLOYMENTS, Resource
from support.waiting import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
KUBECTL = str(ROOT / ".venv" / "bin" / "kubectl")
OPERATOR = "system:serviceaccount:modelship-system:modelship-operator"
OPERATOR_GROUPS = [
    "system:serviceaccounts",
    "system:serviceaccounts:modelship-system",
    "system:authenticated",
]
# (verb, group, resource, subresource)
Need = tuple[str, str, str, str]

CLIENT_VERBS = {
    "get": ("get",),
    "list": ("list",),
    "create": ("create",),
    "ensure": ("get", "create"),
    "patch": ("patch",),
    "replace": ("update",),
    "delete": ("delete",),
}
# The Deployment controller's `draft.apply(RES, desired, observed)`: observed by a get, then
# created or patched.
APPLY_VERBS = ("get", "create", "patch")
APPLY_DEFAULT = "APPS_DEPLOYMENTS"
# Kopf's own needs beyond the watched kinds: it posts Events, follows CRDs, and lists namespaces
# when restricted to some. It runs standalone, so no peering resources.
KOPF_NEEDS: set[Need] = {
    ("create", "", "events", ""),
    ("list", "apiextensions.k8s.io", "customresourcedefinitions", ""),
    ("watch", "apiextensions.k8s.io", "customresourcedefinitions", ""),
    ("list", "", "namespaces", ""),
    ("watch", "", "namespaces", ""),
}


def operator_sources() -> list[Path]:
    """The modelship.operator modules the operator process actually imports."""
    code = (
        "import json, sys, modelship.operator.__main__; "
        "print(json.dumps([m.__file__ for n, m in sys.modules.items() "
        "if n.startswith('modelship.operator') and getattr(m, '__file__', None)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [Path(p) for p in json.loads(out)]


def resources() -> dict[str, Resource]:
    return {k: v for k, v in vars(kube_module).items() if isinstance(v, Resource)}


def client_needs(source: str) -> set[Need]:
    """Verbs the client layer is called with, per Resource constant, in one module."""
    known = resources()
    needs: set[Need] = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, args = node.func.attr, node.args
        names = [a.id for a in args if isinstance(a, ast.Name) and a.id in known]
        if method in CLIENT_VERBS and args and isinstance(args[0], ast.Name) and names:
            verbs: tuple[str, ...] = CLIENT_VERBS[method]
        elif method == "apply" and ast.unparse(node.func.value) == "draft":
            verbs, names = APPLY_VERBS, names or [APPLY_DEFAULT]
        else:
            continue
        status = any(
            k.arg == "status" and isinstance(k.value, ast.Constant) and k.value.value
            for k in node.keywords
        )
        res = known[names[0]]
        needs |= {(v, res.group, res.plural, "status" if status else "") for v in verbs}
    return needs


def kopf_watch_needs(source: str) -> set[Need]:
    """`@kopf.on.*(group, version, plural)` and `@kopf.timer(...)`: Kopf lists, watches, patches."""
    constants = {"GROUP": GROUP}
    needs: set[Need] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)):
                continue
            if not ast.unparse(deco.func).startswith("kopf.") or len(deco.args) < 3:
                continue
            group_arg, _, plural_arg = deco.args[:3]
            group = (
                constants[group_arg.id]
                if isinstance(group_arg, ast.Name)
                else ast.literal_eval(group_arg)
            )
            plural = ast.literal_eval(plural_arg)
            # Event handlers only watch; the others also store progress and finalizers.
            verbs = ["list", "watch"] if deco.func.attr == "event" else ["list", "watch", "patch"]
            needs |= {(v, group, plural, "") for v in verbs}
    return needs


def operator_needs() -> set[Need]:
    needs = set(KOPF_NEEDS)
    for path in operator_sources():
        source = path.read_text()
        needs |= client_needs(source) | kopf_watch_needs(source)
    return needs


def review(api: Any, user: str, groups: list[str], need: Need, namespace: str | None) -> bool:
    verb, group, resource, subresource = need
    attributes = {"verb": verb, "group": group, "resource": resource}
    if subresource:
        attributes["subresource"] = subresource
    if namespace:
        attributes["namespace"] = namespace
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": groups, "resourceAttributes": attributes},
    }
    result = kubernetes.client.AuthorizationV1Api(api).create_subject_access_review(body)
    return bool(result.status.allowed)


def kubectl(
    kubeconfig: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def installed(dev_cluster: Any) -> None:
    """manifests/default without the operator Deployment: RBAC is what is under test here."""
    rendered = subprocess.run(
        [KUBECTL, "kustomize", str(ROOT / "manifests" / "default")],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    docs = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] != "Deployment"]
    result = kubectl(dev_cluster.kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def operator_token(dev_cluster: Any, installed: None, kube_api: Any) -> str:
    core = kubernetes.client.CoreV1Api(kube_api)

    def token() -> str | None:
        account = core.read_namespaced_service_account("modelship-operator", "modelship-system")
        for ref in account.secrets or []:
            secret = core.read_namespaced_secret(ref.name, "modelship-system")
            if secret.data and secret.data.get("token"):
                return base64.b64decode(secret.data["token"]).decode()
        return None

    return wait_for(token, timeout=60, what="the operator ServiceAccount's token")


def test_the_operator_can_do_everything_its_code_and_kopf_need(
    installed: None, kube_api: Any, namespace: str
) -> None:
    needs = operator_needs()
    # The derivation found the loop's core; if these vanish, the scan broke, not the code.
    assert ("create", "batch", "jobs", "") in needs
    assert ("patch", GROUP, "trainingjobs", "status") in needs
    assert ("delete", "apps", "deployments", "") in needs
    assert ("watch", GROUP, "deployments", "") in needs
    denied = sorted(n for n in needs if not review(kube_api, OPERATOR, OPERATOR_GROUPS, n, None))
    assert denied == [], f"the operator's ClusterRole lacks {denied}"
    # Granted cluster-wide, so in any model namespace too.
    denied_here = sorted(
        n for n in needs if not review(kube_api, OPERATOR, OPERATOR_GROUPS, n, namespace)
    )
    assert denied_here == []


FORBIDDEN: list[Need] = [
    ("get", "", "secrets", ""),
    ("list", "", "secrets", ""),
    ("watch", "", "secrets", ""),
    ("get", "", "configmaps", ""),
    ("delete", "", "namespaces", ""),
    ("create", "", "namespaces", ""),
    ("create", "", "pods", ""),
    ("create", "", "pods", "exec"),
    ("delete", "", "pods", ""),
    ("create", "", "serviceaccounts", ""),
    ("create", "", "serviceaccounts", "token"),
    ("delete", "", "persistentvolumeclaims", ""),
    ("delete", "batch", "jobs", ""),
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
    ("create", "rbac.authorization.k8s.io", "roles", ""),
    ("create", "rbac.authorization.k8s.io", "rolebindings", ""),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings", ""),
    ("update", "rbac.authorization.k8s.io", "clusterroles", ""),
    ("escalate", "rbac.authorization.k8s.io", "clusterroles", ""),
    ("bind", "rbac.authorization.k8s.io", "clusterroles", ""),
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
    dev_cluster: Any, operator_token: str, namespace: str
) -> None:
    """Not a review: real requests, authenticated with the ServiceAccount's token."""
    as_operator = ("--token", operator_token)
    ok = kubectl(dev_cluster.kubeconfig, *as_operator, "get", "models.modelship.io", "-A")
    assert ok.returncode == 0, ok.stderr
    for attempt in (
        ("get", "secrets", "-n", namespace),
        ("delete", "namespace", namespace, "--dry-run=server"),
        ("create", "clusterrolebinding", "grab", "--clusterrole=cluster-admin",
         "--serviceaccount=modelship-system:modelship-operator", "--dry-run=server"),
        ("run", "shell", "-n", namespace, "--image=busybox", "--dry-run=server"),
    ):  # fmt: skip
        result = kubectl(dev_cluster.kubeconfig, *as_operator, *attempt)
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
        "view": f"builtin-viewer-{suffix}",
        "edit": f"builtin-editor-{suffix}",
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
    kube_api: Any, namespace: str, people: dict[str, str], dev_cluster: Any, kube: Any
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

    sample = yaml.safe_load((ROOT / "manifests" / "samples" / "deployment-iris.yaml").read_text())
    kube.create(MODEL_DEPLOYMENTS, namespace, sample)
    patch = json.dumps(APPROVAL)
    refused = kubectl(
        dev_cluster.kubeconfig, f"--as={people['modelship-view']}", "-n", namespace,
        "patch", "deployments.modelship.io", "iris", "--type=merge", "-p", patch,
    )  # fmt: skip
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr
    assert "approval" not in kube.get(MODEL_DEPLOYMENTS, namespace, "iris")["spec"]


def test_edit_and_admin_can_set_an_approval(
    kube_api: Any, namespace: str, people: dict[str, str], dev_cluster: Any, kube: Any
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

    sample = yaml.safe_load((ROOT / "manifests" / "samples" / "deployment-iris.yaml").read_text())
    kube.create(MODEL_DEPLOYMENTS, namespace, sample)
    approved = kubectl(
        dev_cluster.kubeconfig, f"--as={people['modelship-edit']}", "-n", namespace,
        "patch", "deployments.modelship.io", "iris", "--type=merge", "-p", json.dumps(APPROVAL),
    )  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    spec = kube.get(MODEL_DEPLOYMENTS, namespace, "iris")["spec"]
    assert spec["approval"]["version"] == 1
    # None of them may read Secrets through our roles (built-in edit may; that is not ours).
    for role in ("modelship-view", "modelship-edit", "modelship-admin"):
        assert not review(kube_api, people[role], [], ("get", "", "secrets", ""), namespace)
