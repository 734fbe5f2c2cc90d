"""`modelship status`: one screen with a Model, its versions, TrainingJobs and Deployments.

Rendering is pure (dicts in, text out) so it is unit-tested without a cluster; the command only
fetches the objects.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from modelship.operator.kube import (
    MODEL_DEPLOYMENTS,
    MODELS,
    TRAINING_JOBS,
    Kube,
    KubeError,
    load_api_client,
)

Obj = dict[str, Any]


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


def _condition(body: Obj, type_: str) -> Obj:
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return dict(condition)
    return {}


def _metrics(metrics: Obj, limit: int = 3) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:limit])


def render_model(model: Obj, tjs: list[Obj], deployments: list[Obj]) -> str:
    meta, spec, st = model["metadata"], model.get("spec") or {}, model.get("status") or {}
    ready = _condition(model, "Ready")
    lines = [
        f"Model {meta['namespace']}/{meta['name']}: {spec.get('task')} with "
        f"{(spec.get('algorithm') or {}).get('name')} on {(spec.get('dataset') or {}).get('uri')}",
        f"  phase {st.get('phase', '-')}; Ready={ready.get('status', '?')} "
        f"{ready.get('reason', '')}: {ready.get('message', '')}".rstrip(": "),
    ]
    latest = st.get("latestVersion")
    if latest:
        lines.append(
            f"  latest version {latest['version']} ({latest.get('digest', '')[:19]}…) "
            f"{_metrics(latest.get('metrics') or {})}"
        )
    retraining = st.get("retraining") or {}
    if retraining.get("decision"):
        lines.append(
            f"  retraining  {retraining['decision']} ({retraining.get('reason', '')}) since "
            f"{retraining.get('at', '-')}: {retraining.get('message', '')}".rstrip(": ")
        )
        if retraining.get("nextEligibleAt"):
            lines.append(
                f"              next automatic training from {retraining['nextEligibleAt']}"
            )
    if st.get("pendingTrigger"):
        lines.append(
            f"  queued: a {st['pendingTrigger']} training waits for {st.get('activeTrainingJob')}"
        )
    versions = [["VERSION", "GATES", "METRICS", "TRAINED BY"]] + [
        [
            str(v["version"]),
            "passed" if v.get("passedGates") else "failed",
            _metrics(v.get("metrics") or {}),
            str(v.get("trainingJob", "")),
        ]
        for v in st.get("versions") or []
    ]
    if len(versions) > 1:
        lines += ["", "  Versions", *_table(versions, "    ")]
    jobs = [["TRAININGJOB", "TRIGGER", "PHASE", "VERSION", "ATTEMPTS", "REASON"]] + [
        [
            t["metadata"]["name"],
            t["spec"].get("trigger", ""),
            (t.get("status") or {}).get("phase", "-"),
            str((t.get("status") or {}).get("version", "-")),
            str((t.get("status") or {}).get("attempts", 0)),
            ((t.get("status") or {}).get("failure") or {}).get("reason", "")
            or t["spec"].get("reason", ""),
        ]
        for t in sorted(tjs, key=lambda t: t["metadata"].get("creationTimestamp", ""))
    ]
    if len(jobs) > 1:
        lines += ["", "  Training", *_table(jobs, "    ")]
    for mdep in deployments:
        lines += ["", *render_deployment(mdep)]
    return "\n".join(lines)


def render_deployment(mdep: Obj) -> list[str]:
    st = mdep.get("status") or {}
    test, prod = st.get("test") or {}, st.get("production") or {}
    approved = _condition(mdep, "Approved")
    passed = {True: "passed", False: "FAILED", None: "testing"}[test.get("passed")]
    lines = [f"  Deployment {mdep['metadata']['name']}: phase {st.get('phase', '-')}"]
    if test:
        lines.append(
            f"    test        version {test.get('version')} {passed} "
            f"(service {test.get('service')})"
        )
        for check in (test.get("report") or {}).get("checks") or []:
            mark = "ok " if check.get("passed") else "BAD"
            lines.append(
                f"      {mark} {check.get('name')}: {check.get('value')} "
                f"{check.get('bound') or ''} {check.get('message') or ''}".rstrip()
            )
    if prod:
        lines.append(
            f"    production  version {prod.get('version')}, {prod.get('readyReplicas', 0)} ready, "
            f"promoted {prod.get('promotedAt', '-')} by {prod.get('approvedBy', '-')}"
        )
    else:
        lines.append("    production  nothing yet")
    lines.append(
        f"    approval    {approved.get('reason', '-')}: {approved.get('message', '')}".rstrip(": ")
    )
    if _condition(mdep, "RolledBack").get("status") == "True":
        lines.append(f"    rolled back {_condition(mdep, 'RolledBack').get('message')}")
    auto = st.get("autoApproval") or {}
    if auto:
        lines.append(f"    auto        version {auto.get('version')}: {auto.get('rule', '')}")
    drift = st.get("drift") or {}
    if drift:
        lines.append(
            f"    drift       PSI {drift.get('overall')} (max {drift.get('max')}) over "
            f"{drift.get('rows')} rows from {drift.get('pods', 0)} pods at "
            f"{drift.get('checkedAt', '-')} (worst: {drift.get('worst', '-')})"
        )
        if drift.get("error"):
            lines.append(f"                unreadable: {drift['error']}")
    return lines


def status(args: argparse.Namespace) -> int:
    from modelship.operator.cli import current_namespace

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
