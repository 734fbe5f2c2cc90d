"""What the operator asks of the API server, read from its code, and what its ClusterRole grants.

A need is (verb, group, resource, subresource). They come from the modules `python -m
modelship.operator` loads: every client-layer call on a `Resource` of modelship.operator.kube.client
(also through a property or function that returns one, such as the PodDisruptionBudget version
the server serves), every Kopf handler's watched resource, and what Kopf itself does. The scan
also lists every Resource constant the code mentions (`touched`), so a call pattern it cannot
read shows up as a touched resource without needs instead of passing unnoticed.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from modelship.api.v1alpha1 import GROUP, VERSION
from modelship.operator.kube import resources as kube_module
from modelship.operator.kube.resources import Resource

# (verb, group, resource, subresource)
Need = tuple[str, str, str, str]
ROLE = Path(__file__).resolve().parents[2] / "manifests" / "rbac" / "role.yaml"
LEADER_ELECTION_ROLE = ROLE.with_name("leader_election.yaml")
WEBHOOK_SECRET_ROLE = ROLE.with_name("webhook_certificates.yaml")
# (group, resource) the operator touches only in its own namespace: the leader Lease, and the
# webhook's certificate Secret.
OWN_NAMESPACE = {("coordination.k8s.io", "leases"), ("", "secrets")}

CLIENT_VERBS = {
    "get": ("get",),
    "list": ("list",),
    "create": ("create",),
    "ensure": ("get", "create"),
    "patch": ("patch",),
    "json_patch": ("patch",),
    "replace": ("update",),
    "delete": ("delete",),
}
# The Deployment controller's `draft.apply(RES, desired, observed)`: the observed object was
# read with a get; the action creates it, or patches it when it differs.
APPLY_VERBS = ("get", "create", "patch")
# Kopf's own needs beyond the watched kinds: it posts Events (kopf.event, and its own), follows
# CRDs, and lists namespaces when restricted to some. It runs standalone: no peering resources.
KOPF_NEEDS: set[Need] = {
    ("create", "", "events", ""),
    ("list", "apiextensions.k8s.io", "customresourcedefinitions", ""),
    ("watch", "apiextensions.k8s.io", "customresourcedefinitions", ""),
    ("list", "", "namespaces", ""),
    ("watch", "", "namespaces", ""),
}
# Kopf decorators that name no resource.
KOPF_PROCESS_HANDLERS = {"startup", "cleanup", "login", "probe"}
# Kube.proxy_get: the pod proxy, which drift reading uses only when the operator runs outside
# the cluster (`auto` in-cluster reads pod addresses), with the user's own credentials.
PROXY: Need = ("get", "", "pods", "proxy")
# The leader elector creates its Lease's namespace only when it is missing, which happens only
# outside the cluster (`make run` with a person's credentials); in a pod it is the pod's own.
LEASE_NAMESPACE: Need = ("create", "", "namespaces", "")
NOT_FOR_THE_SERVICE_ACCOUNT = {PROXY, LEASE_NAMESPACE}


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


def resource_aliases(tree: ast.Module) -> dict[str, set[str]]:
    """Names that can stand for a Resource constant -> the constants: functions and properties
    whose returns name one, and variables or fields assigned one (`pdbs = HPAS_V2 if
    ... else PDBS`, a dataclass field's default)."""
    known = resources()
    found: dict[str, set[str]] = {}

    def named(expr: ast.AST) -> set[str]:
        return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name) and n.id in known}

    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names = set().union(
                *(
                    named(ret.value)
                    for ret in ast.walk(node)
                    if isinstance(ret, ast.Return) and ret.value is not None
                )
            )
            if names:
                found.setdefault(node.name, set()).update(names)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = named(node.value)
            for target in targets:
                if names and isinstance(target, ast.Name) and target.id not in known:
                    found.setdefault(target.id, set()).update(names)
    return found


def _resolve(expr: ast.expr, returned: dict[str, set[str]]) -> set[str]:
    """The Resource constants an argument can be: named in it, or returned by the function or
    property (`self.pdbs`) it calls or reads."""
    known = resources()
    names = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name) and n.id in known}
    for node in ast.walk(expr):
        if isinstance(node, ast.Attribute) and node.attr in returned:
            names |= returned[node.attr]
        elif isinstance(node, ast.Name) and node.id in returned:
            names |= returned[node.id]
    return names


def _called(call: ast.Call) -> str:
    """The name of the function a call calls (`f(...)`, `module.f(...)`)."""
    func = call.func
    return (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )


def client_needs(source: str, aliases: dict[str, set[str]] | None = None) -> set[Need]:
    """Verbs the client layer is called with, per Resource, in one module; `aliases` adds what
    names defined in other modules stand for (see `resource_aliases`)."""
    known, tree = resources(), ast.parse(source)
    returned = resource_aliases(tree)
    for name, constants in (aliases or {}).items():
        returned.setdefault(name, set()).update(constants)
    needs: set[Need] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called(node) == "write_status" and len(node.args) > 1:
            # Every kind's status write: `kube.perform.write_status(kube, RES, body, old, new)`.
            for name in _resolve(node.args[1], returned):
                res = known[name]
                needs.add(("patch", res.group, res.plural, "status"))
            continue
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, args = node.func.attr, node.args
        if method == "proxy_get":
            needs.add(PROXY)
            continue
        if method in CLIENT_VERBS and args:
            verbs: tuple[str, ...] = CLIENT_VERBS[method]
            names = _resolve(args[0], returned)
        elif method == "apply" and ast.unparse(node.func.value) == "draft" and args:
            # The Deployment controller's `draft.apply(RES, desired, observed)`.
            verbs = APPLY_VERBS
            names = _resolve(args[0], returned)
        else:
            continue
        status = any(
            k.arg == "status" and isinstance(k.value, ast.Constant) and k.value.value
            for k in node.keywords
        )
        for name in names:
            res = known[name]
            needs |= {(v, res.group, res.plural, "status" if status else "") for v in verbs}
    return needs


def _value(expr: ast.expr) -> str:
    """A decorator argument: a literal, GROUP/VERSION, or `<Resource>.group` and the like."""
    if isinstance(expr, ast.Name) and expr.id in ("GROUP", "VERSION"):
        return GROUP if expr.id == "GROUP" else VERSION
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
        res = resources().get(expr.value.id)
        if res is not None:
            return str(getattr(res, expr.attr))
    value = ast.literal_eval(expr)
    if not isinstance(value, str):
        raise ValueError(f"cannot read the Kopf resource argument {ast.unparse(expr)}")
    return value


def _watched(deco: ast.Call) -> tuple[str, str] | None:
    """(group, plural) of a Kopf handler decorator; None for process-level handlers."""
    keywords = {k.arg: k.value for k in deco.keywords if k.arg}
    if "plural" in keywords:
        group = _value(keywords["group"]) if "group" in keywords else ""
        return group, _value(keywords["plural"])
    if len(deco.args) >= 3:
        return _value(deco.args[0]), _value(deco.args[2])
    if len(deco.args) == 1:  # "plural.group.tld" or a core "plural"
        plural, _, group = _value(deco.args[0]).partition(".")
        return group, plural
    if isinstance(deco.func, ast.Attribute) and deco.func.attr in KOPF_PROCESS_HANDLERS:
        return None
    raise ValueError(f"cannot tell what {ast.unparse(deco)} watches")


def kopf_watch_needs(source: str) -> set[Need]:
    """`@kopf.on.*` and `@kopf.timer/daemon`: Kopf lists and watches; except for event handlers
    it also patches (progress annotations, finalizers)."""
    needs: set[Need] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and ast.unparse(deco.func).startswith("kopf.")):
                continue
            watched = _watched(deco)
            if watched is None:
                continue
            group, plural = watched
            event_only = isinstance(deco.func, ast.Attribute) and deco.func.attr == "event"
            verbs = ["list", "watch"] if event_only else ["list", "watch", "patch"]
            needs |= {(v, group, plural, "") for v in verbs}
    return needs


def touched(source: str) -> set[tuple[str, str]]:
    """(group, resource) of every Resource constant the module's code refers to."""
    known = resources()
    return {
        (known[n.id].group, known[n.id].plural)
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in known
    }


def unscanned(touches: Iterable[tuple[str, str]], needs: set[Need]) -> list[tuple[str, str]]:
    """Resources the code refers to for which the scan found no need: a call it cannot read."""
    covered = {(group, resource) for _, group, resource, _ in needs}
    return sorted(set(touches) - covered)


def operator_needs(sources: Iterable[Path] | None = None) -> tuple[set[Need], set[tuple[str, str]]]:
    """(needs, touched resources) over the operator's modules."""
    needs, touches = set(KOPF_NEEDS), set()
    texts = [path.read_text() for path in (operator_sources() if sources is None else sources)]
    aliases: dict[str, set[str]] = {}
    for source in texts:
        for name, constants in resource_aliases(ast.parse(source)).items():
            aliases.setdefault(name, set()).update(constants)
    for source in texts:
        needs |= client_needs(source, aliases) | kopf_watch_needs(source)
        touches |= touched(source)
    return needs, touches


def role_rules(path: Path = ROLE, kind: str = "ClusterRole") -> list[dict[str, Any]]:
    """The rules of the operator's ClusterRole (or the file's Role) as shipped."""
    (role,) = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == kind]
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def own_namespace_needs(needs: Iterable[Need]) -> set[Need]:
    """The needs granted only in the operator's own namespace, by a Role: the leader Lease."""
    return {n for n in needs if (n[1], n[2]) in OWN_NAMESPACE}


def not_granted(needs: Iterable[Need], rules: list[dict[str, Any]]) -> list[Need]:
    """The needs no rule grants, evaluated as RBAC does (`*` matches anything)."""

    def grants(rule: dict[str, Any], need: Need) -> bool:
        verb, group, resource, sub = need
        name = f"{resource}/{sub}" if sub else resource
        return (
            bool({group, "*"} & set(rule.get("apiGroups", [])))
            and bool({name, "*"} & set(rule.get("resources", [])))
            and bool({verb, "*"} & set(rule.get("verbs", [])))
        )

    return sorted(n for n in needs if not any(grants(r, n) for r in rules))
