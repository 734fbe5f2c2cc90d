"""Reading and driving live objects as the tests do: status, conditions, approval, inference.

The operator's answers are in `status`; tests wait on it (`wait_for_status`) rather than on
time, and read conditions, production pods and predictions the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from modelship.cli.approve import approval_for
from modelship.contracts.approval import APPROVED_BY
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import (
    APPS_DEPLOYMENTS,
    MODEL_DEPLOYMENTS,
    MODELS,
    PODS,
    PVCS,
    Resource,
)
from modelship.operator.model.builders import build_catalog_claim
from modelship.operator.settings import OperatorSettings
from support.waiting import wait_for

Obj = dict[str, Any]
SERVING_PORT = 8080


def status_of(kube: Kube, res: Resource, namespace: str, name: str) -> Obj:
    """The object's status, `{}` while it has none or the object does not exist."""
    return dict((kube.get(res, namespace, name) or {}).get("status") or {})


def wait_for_status(
    kube: Kube,
    res: Resource,
    namespace: str,
    name: str,
    check: Callable[[Obj], Any],
    timeout: float = 120,
    what: str | None = None,
    describe: Callable[[], str] | None = None,
) -> Obj:
    """The object's status once `check(status)` is truthy; a timeout shows the last status
    (and what `describe` adds, e.g. the operator's log)."""

    def last() -> str:
        status = str(status_of(kube, res, namespace, name))
        return f"{status}\n{describe()}" if describe else status

    return wait_for(
        lambda: (lambda s: s if check(s) else None)(status_of(kube, res, namespace, name)),
        timeout=timeout,
        what=what or f"{res.kind} {name}",
        describe=last,
    )


def awaiting_approval(version: int) -> Callable[[Obj], bool]:
    """A Deployment status check: `version` passed the test stage and waits for approval."""
    return lambda s: (
        (s.get("test") or {}).get("version") == version and s.get("phase") == "AwaitingApproval"
    )


def retrain(kube: Kube, namespace: str, model: str, value: str) -> None:
    """Ask for a new version of the Model as a user would (the retrain annotation)."""
    patch = {"metadata": {"annotations": {"modelship.io/retrain": value}}}
    kube.patch(MODELS, namespace, model, patch)


def condition(status: Obj, type_: str) -> Obj:
    """The condition of that type, or an absent one whose fields are all None/empty."""
    absent = {"type": type_, "status": None, "reason": None, "message": ""}
    return next((c for c in status.get("conditions", []) if c["type"] == type_), absent)


def approve(kube: Kube, namespace: str, name: str, **override: Any) -> Obj:
    """Approve the tested version as `modelship approve` would (its own approval rule); the
    written object, with the approver the webhook recorded."""
    approval = approval_for(status_of(kube, MODEL_DEPLOYMENTS, namespace, name), None)
    approval.update(override)
    return kube.patch(MODEL_DEPLOYMENTS, namespace, name, {"spec": {"approval": approval}})


def recorded_approver(body: Obj) -> str | None:
    """The approver the admission webhook recorded on a Deployment (None: nobody)."""
    return (body.get("metadata", {}).get("annotations") or {}).get(APPROVED_BY)


def production_version(kube: Kube, namespace: str, name: str) -> str | None:
    """The version the production stage Deployment runs, None when there is none."""
    deployment = kube.get(APPS_DEPLOYMENTS, namespace, name)
    if deployment is None:
        return None
    return str(deployment["spec"]["template"]["metadata"]["labels"]["modelship.io/version"])


def pod_ips(
    kube: Kube,
    namespace: str,
    name: str,
    stage: str,
    *,
    version: int | None = None,
    ready: bool = False,
    component: str | None = None,
) -> list[str]:
    """Addresses of the pods of Deployment `name` at `stage` (production, test, canary, router)
    that have one and are not being deleted: of `version` and `component` when given, and only
    the ready ones (what a Service's endpoints would hold) with `ready`."""
    selector = {"modelship.io/deployment": name, "modelship.io/stage": stage}
    if version is not None:
        selector["modelship.io/version"] = str(version)
    if component is not None:
        selector["app.kubernetes.io/component"] = component
    return [
        p["status"]["podIP"]
        for p in kube.list(PODS, namespace, selector)
        if p["status"].get("podIP")
        and not p["metadata"].get("deletionTimestamp")
        and (not ready or any(c["type"] == "Ready" and c["status"] == "True"
                              for c in p["status"].get("conditions", [])))
    ]  # fmt: skip


def production_pod_ips(
    kube: Kube, namespace: str, name: str, version: int | None = None
) -> list[str]:
    """Addresses of the production pods of Deployment `name` (of `version`, when given)."""
    return pod_ips(kube, namespace, name, "production", version=version)


def infer(client: httpx.Client, ip: str, model: str, rows: list[list[float]]) -> list[Any]:
    """The `predict` output for `rows`, from one pod, over the Open Inference Protocol."""
    shape = [len(rows), len(rows[0])]
    data = [value for row in rows for value in row]
    answer = client.post(
        f"http://{ip}:{SERVING_PORT}/v2/models/{model}/infer",
        json={"inputs": [{"name": "input", "shape": shape, "datatype": "FP64", "data": data}]},
    )
    assert answer.status_code == 200, answer.text
    predictions: list[Any] = next(o for o in answer.json()["outputs"] if o["name"] == "predict")[
        "data"
    ]
    return predictions


def catalog_dir(kube: Kube, namespace: str) -> Path:
    """The catalog claim's directory on this machine (the local node's hostPath volume)."""
    kube.create(PVCS, namespace, build_catalog_claim(namespace, OperatorSettings()))
    wait_for(
        lambda: (
            (kube.get(PVCS, namespace, "modelship-catalog") or {}).get("spec", {}).get("volumeName")
        ),
        timeout=30,
        what="the catalog claim to be bound",
    )
    claim = kube.get(PVCS, namespace, "modelship-catalog")
    assert claim is not None
    volume = kube._call("GET", f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
    return Path(volume["spec"]["hostPath"]["path"])
