"""`modelship status`: one screen with a Model, its versions, TrainingJobs and Deployments.

Rendering is pure (objects as the API server returns them in, text out) so it is unit-tested
without a cluster; the command only fetches the objects. Statuses are read through the typed API
models: the operator writes them from those same models, so a renamed field is a type error here
rather than a column that silently goes blank. The Model's spec is read as written instead, so a
Model the operator rejected (its spec fails validation) still gets its screen, status and all.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TypeGuard, TypeVar

from pydantic import BaseModel

from modelship.api.v1alpha1 import (
    Condition,
    DeploymentStatus,
    ModelStatus,
    TrainingJobStatus,
)
from modelship.cli.kubectx import current_namespace
from modelship.operator.kube.client import Kube, KubeError, load_api_client
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS, TRAINING_JOBS

Obj = dict[str, Any]
_Section = TypeVar("_Section", bound=BaseModel)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("status", help="one screen: models, versions, training, stages")
    parser.add_argument("model", nargs="?", help="a Model name (default: every Model)")
    parser.add_argument("-n", "--namespace", default=None, help="namespace (default: kubeconfig's)")
    parser.add_argument(
        "--kubeconfig", default=os.environ.get("KUBECONFIG"), help="kubeconfig file"
    )
    parser.set_defaults(func=status)


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def _or(value: object, default: str) -> object:
    """The value, or what the screen shows for a field the status does not have (yet)."""
    return default if value is None else value


def _given(section: _Section | None) -> TypeGuard[_Section]:
    """Whether a status section holds anything: an empty one (`{}`) shows as absent."""
    return section is not None and bool(section.model_fields_set)


def _metrics(metrics: dict[str, float], limit: int = 3) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:limit])


def _model_summary(model: Obj, st: ModelStatus) -> list[str]:
    meta, spec = model["metadata"], model.get("spec") or {}
    ready = _condition(st.conditions, "Ready")
    trainer = (spec.get("algorithm") or {}).get("name")
    if trainer is None and (spec.get("training") or {}).get("code"):
        trainer = "own training code"
    lines = [
        f"Model {meta['namespace']}/{meta['name']}: {spec.get('task')} with "
        f"{trainer} on {(spec.get('dataset') or {}).get('uri')}",
        f"  phase {_or(st.phase, '-')}; Ready={ready.status if ready else '?'} "
        f"{ready.reason if ready else ''}: {ready.message if ready else ''}".rstrip(": "),
    ]
    latest = st.latest_version
    if latest:
        lines.append(
            f"  latest version {latest.version} ({latest.digest[:19]}…) {_metrics(latest.metrics)}"
        )
    retraining = st.retraining
    if retraining and retraining.decision:
        lines.append(
            f"  retraining  {retraining.decision} ({retraining.reason or ''}) since "
            f"{_or(retraining.at, '-')}: {retraining.message or ''}".rstrip(": ")
        )
        if retraining.next_eligible_at:
            lines.append(
                f"              next automatic training from {retraining.next_eligible_at}"
            )
    if st.pending_trigger:
        lines.append(
            f"  queued: a {st.pending_trigger} training waits for {st.active_training_job}"
        )
    return lines


def _training_row(tj: Obj) -> list[str]:
    spec, st = tj["spec"], TrainingJobStatus.model_validate(tj.get("status") or {})
    return [
        tj["metadata"]["name"],
        spec.get("trigger", ""),
        str(_or(st.phase, "-")),
        str(_or(st.version, "-")),
        str(st.attempts),
        (st.failure.reason if st.failure else "") or spec.get("reason", ""),
    ]


def render_model(model: Obj, tjs: list[Obj], deployments: list[Obj]) -> str:
    st = ModelStatus.model_validate(model.get("status") or {})
    lines = _model_summary(model, st)
    versions = [["VERSION", "GATES", "METRICS", "TRAINED BY"]] + [
        [
            str(v.version),
            "passed" if v.passed_gates else "failed",
            _metrics(v.metrics),
            v.training_job or "",
        ]
        for v in st.versions
    ]
    if len(versions) > 1:
        lines += ["", "  Versions", *_table(versions, "    ")]
    jobs = [["TRAININGJOB", "TRIGGER", "PHASE", "VERSION", "ATTEMPTS", "REASON"]] + [
        _training_row(t)
        for t in sorted(tjs, key=lambda t: t["metadata"].get("creationTimestamp", ""))
    ]
    if len(jobs) > 1:
        lines += ["", "  Training", *_table(jobs, "    ")]
    for mdep in deployments:
        lines += ["", *render_deployment(mdep)]
    return "\n".join(lines)


def render_deployment(mdep: Obj) -> list[str]:
    st = DeploymentStatus.model_validate(mdep.get("status") or {})
    test, prod = st.test, st.production
    lines = [f"  Deployment {mdep['metadata']['name']}: phase {_or(st.phase, '-')}"]
    if _given(test):
        passed = {True: "passed", False: "FAILED", None: "testing"}[test.passed]
        lines.append(f"    test        version {test.version} {passed} (service {test.service})")
        for check in test.report.checks if test.report else []:
            mark = "ok " if check.passed else "BAD"
            lines.append(
                f"      {mark} {check.name}: {check.value} "
                f"{check.bound or ''} {check.message or ''}".rstrip()
            )
    if _given(prod):
        lines.append(
            f"    production  version {prod.version}, {prod.ready_replicas or 0} ready, "
            f"promoted {_or(prod.promoted_at, '-')} by {_or(prod.approved_by, '-')}"
        )
    else:
        lines.append("    production  nothing yet")
    approved = _condition(st.conditions, "Approved")
    lines.append(
        f"    approval    {approved.reason if approved else '-'}: "
        f"{approved.message if approved else ''}".rstrip(": ")
    )
    rolled_back = _condition(st.conditions, "RolledBack")
    if rolled_back and rolled_back.status == "True":
        lines.append(f"    rolled back {rolled_back.message}")
    if st.auto_approval:
        lines.append(f"    auto        version {st.auto_approval.version}: {st.auto_approval.rule}")
    drift = st.drift
    if _given(drift):
        lines.append(
            f"    drift       PSI {drift.overall} (max {drift.max}) over {drift.rows} rows from "
            f"{drift.pods} pods at {_or(drift.checked_at, '-')} (worst: {_or(drift.worst, '-')})"
        )
        if drift.error:
            lines.append(f"                unreadable: {drift.error}")
    return lines


def status(args: argparse.Namespace) -> int:
    namespace = args.namespace or current_namespace(args.kubeconfig)
    kube = Kube(load_api_client(args.kubeconfig))
    try:
        models = kube.list(MODELS, namespace)
        if args.model:
            models = [m for m in models if m["metadata"]["name"] == args.model]
            if not models:
                print(f"error: model {args.model!r} not found in {namespace!r}", file=sys.stderr)
                return 1
        tjs, mdeps = kube.list(TRAINING_JOBS, namespace), kube.list(MODEL_DEPLOYMENTS, namespace)
    except KubeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        kube.close()
    if not models:
        print(f"no Models in namespace {namespace!r}")
        return 0
    screens = []
    for model in models:
        name = model["metadata"]["name"]
        screens.append(
            render_model(
                model,
                [t for t in tjs if t["spec"]["modelRef"]["name"] == name],
                [d for d in mdeps if d["spec"]["modelRef"]["name"] == name],
            )
        )
    print("\n\n".join(screens))
    return 0
