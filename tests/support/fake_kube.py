"""An in-memory stand-in for the operator's client layer (`modelship.operator.kube.client.Kube`).

Objects are plain dicts kept per (resource, namespace, name); every call is recorded in `calls`,
so a test can assert on what a reconcile read and wrote. Writes behave like the API server where
controllers depend on it: create refuses an existing name (409), a merge patch merges (RFC 7386),
a spec change bumps `metadata.generation`, the status subresource patches only `status`, and
get/delete of an absent object answer None/False as the real client does for a 404.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

from modelship.operator.kube.client import JsonPatch, Kube, KubeError
from modelship.operator.kube.resources import Resource

Obj = dict[str, Any]


@dataclass(frozen=True)
class Call:
    verb: str  # get | list | create | patch | patch-status | delete | proxy_get
    resource: str  # plural, e.g. "deployments" (with its group: "apps/deployments")
    namespace: str
    name: str | None = None


def _key(res: Resource) -> str:
    return f"{res.group}/{res.plural}" if res.group else res.plural


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _check_version(current: Obj, patch: Obj) -> None:
    """A patch naming a resourceVersion applies only to that version, as on the API server."""
    wanted = (patch.get("metadata") or {}).get("resourceVersion")
    have = (current.get("metadata") or {}).get("resourceVersion")
    if wanted is not None and wanted != have:
        raise KubeError(409, f"the object has been modified (version {have}, not {wanted})")


def _next_version(current: Obj, merged: Obj) -> None:
    """An object that has a resourceVersion gets a new one with every write."""
    have = (current.get("metadata") or {}).get("resourceVersion")
    if have is not None:
        merged["metadata"]["resourceVersion"] = str(int(have) + 1)


class FakeKube(Kube):
    """Kube's verbs over a dict; `unserved` lists API versions the fake server does not serve."""

    def __init__(self, unserved: tuple[str, ...] = ()) -> None:  # no API client at all
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.calls: list[Call] = []
        self.unserved = set(unserved)
        self.proxied: dict[tuple[str, str, int, str], Any] = {}
        self._uids = itertools.count(1)

    # -- test helpers -------------------------------------------------------------------------
    def put(self, res: Resource, obj: Obj) -> Obj:
        """Store `obj` as the API server would hold it (no call recorded)."""
        meta = obj.setdefault("metadata", {})
        meta.setdefault("generation", 1)
        meta.setdefault("uid", f"uid-{next(self._uids)}")
        self.objects[(_key(res), meta["namespace"], meta["name"])] = obj
        return obj

    def written(self, verb: str | None = None) -> list[Call]:
        """The write calls made so far (all, or of one verb)."""
        return [c for c in self.calls if c.verb not in ("get", "list") and verb in (None, c.verb)]

    # -- Kube's verbs -------------------------------------------------------------------------
    def close(self) -> None:
        pass

    def served(self, res: Resource, fresh: bool = False) -> bool:
        return res.api_version not in self.unserved

    def get(self, res: Resource, namespace: str | None, name: str) -> Obj | None:
        self.calls.append(Call("get", _key(res), namespace or "", name))
        found = self.objects.get((_key(res), namespace or "", name))
        return copy.deepcopy(found) if found is not None else None

    def list(
        self,
        res: Resource,
        namespace: str,
        selector: dict[str, str] | None = None,
        fields: dict[str, str] | None = None,
    ) -> list[Obj]:
        self.calls.append(Call("list", _key(res), namespace))
        return [
            copy.deepcopy(obj)
            for (kind, ns, _), obj in sorted(self.objects.items())
            if kind == _key(res)
            and ns == namespace
            and all(
                (obj["metadata"].get("labels") or {}).get(k) == v
                for k, v in (selector or {}).items()
            )
            and all(_field(obj, path) == value for path, value in (fields or {}).items())
        ]

    def create(self, res: Resource, namespace: str, body: Obj) -> Obj:
        name = body["metadata"]["name"]
        self.calls.append(Call("create", _key(res), namespace, name))
        if (_key(res), namespace, name) in self.objects:
            raise KubeError(409, f"{res.plural} {name!r} already exists")
        obj = copy.deepcopy(body)
        obj["metadata"] = {**obj["metadata"], "namespace": namespace, "generation": 1}
        obj["metadata"].pop("uid", None)
        return copy.deepcopy(self.put(res, obj))

    def patch(
        self, res: Resource, namespace: str, name: str, patch: Obj, status: bool = False
    ) -> Obj:
        self.calls.append(Call("patch-status" if status else "patch", _key(res), namespace, name))
        current = self.objects.get((_key(res), namespace, name))
        if current is None:
            raise KubeError(404, f"{res.plural} {name!r} not found")
        _check_version(current, patch)
        if status:
            merged = {**current, "status": merge_patch(current.get("status"), patch["status"])}
        else:
            merged = merge_patch(current, {k: v for k, v in patch.items() if k != "status"})
            if merged.get("spec") != current.get("spec"):
                merged["metadata"]["generation"] = int(current["metadata"]["generation"]) + 1
        _next_version(current, merged)
        self.objects[(_key(res), namespace, name)] = merged
        return copy.deepcopy(merged)

    def json_patch(self, res: Resource, namespace: str | None, name: str, ops: JsonPatch) -> Obj:
        """RFC 6902's test, add and replace (what the operator sends)."""
        self.calls.append(Call("patch", _key(res), namespace or "", name))
        key = (_key(res), namespace or "", name)
        if key not in self.objects:
            raise KubeError(404, f"{res.plural} {name!r} not found")
        patched = copy.deepcopy(self.objects[key])
        for op in ops:
            *parents, last = [
                p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")
            ]
            node: Any = patched
            for part in parents:
                node = node[int(part)] if isinstance(node, list) else node[part]
            index: Any = int(last) if isinstance(node, list) else last
            if op["op"] == "test":
                if node[index] != op["value"]:
                    raise KubeError(422, f"test of {op['path']} failed")
            elif op["op"] in ("add", "replace"):
                node[index] = copy.deepcopy(op["value"])
            else:
                raise NotImplementedError(op["op"])
        _next_version(self.objects[key], patched)
        self.objects[key] = patched
        return copy.deepcopy(patched)

    def delete(
        self, res: Resource, namespace: str, name: str, propagation: str = "Background"
    ) -> bool:
        self.calls.append(Call("delete", _key(res), namespace, name))
        return self.objects.pop((_key(res), namespace, name), None) is not None

    def proxy_get(self, namespace: str, pod: str, port: int, path: str) -> Any:
        self.calls.append(Call("proxy_get", "pods", namespace, pod))
        answer = self.proxied.get((namespace, pod, port, path))
        if answer is None:
            raise KubeError(503, f"no answer from {pod}:{port}{path}")
        if isinstance(answer, Exception):
            raise answer
        return copy.deepcopy(answer)


def _field(obj: Obj, path: str) -> str:
    """A field selector's value as the API server reads it: the dotted path's string, or ""."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)
