"""`modelship approve`: approve the version that passed the test stage (also `kubectl modelship`).

Approving writes `spec.approval` with the tested version *and its digest*, so the approval cannot
silently apply to a different artifact later; the operator still re-checks everything.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from modelship.operator.kube import MODEL_DEPLOYMENTS, Kube, KubeError, load_api_client


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "approve", help="approve the version a Deployment's test stage passed for production"
    )
    parser.add_argument("deployment", help="name of the modelship Deployment (kubectl get mdep)")
    parser.add_argument("-n", "--namespace", default=None, help="namespace (default: kubeconfig's)")
    parser.add_argument(
        "--version", type=int, default=None, help="refuse unless this is the tested version"
    )
    parser.add_argument("--by", default=None, help="who approves (default: your user name)")
    parser.add_argument(
        "--kubeconfig", default=os.environ.get("KUBECONFIG"), help="kubeconfig file"
    )
    parser.set_defaults(func=approve)


def current_namespace(kubeconfig: str | None) -> str:
    from kubernetes import config

    try:
        _, context = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        return str(context.get("context", {}).get("namespace") or "default")
    except (config.ConfigException, OSError):
        return "default"


def approval_for(status: dict[str, Any], wanted: int | None, by: str) -> dict[str, Any]:
    """The approval to write, or ValueError saying why there is nothing to approve."""
    test = status.get("test") or {}
    if test.get("passed") is not True:
        state = {None: "has not finished testing", False: "failed its tests"}.get(
            test.get("passed"), ""
        )
        raise ValueError(f"nothing to approve: version {test.get('version', '?')} {state}".rstrip())
    if wanted is not None and wanted != test.get("version"):
        raise ValueError(
            f"version {wanted} is not the tested version ({test.get('version')} passed)"
        )
    return {"version": test["version"], "digest": test["digest"], "approvedBy": by}


def approve(args: argparse.Namespace) -> int:
    namespace = args.namespace or current_namespace(args.kubeconfig)
    kube = Kube(load_api_client(args.kubeconfig))
    try:
        body = kube.get(MODEL_DEPLOYMENTS, namespace, args.deployment)
        if body is None:
            print(
                f"error: deployment {args.deployment!r} not found in namespace {namespace!r} "
                "(kubectl get mdep)",
                file=sys.stderr,
            )
            return 1
        try:
            approval = approval_for(
                body.get("status") or {}, args.version, args.by or getpass.getuser()
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        kube.patch(MODEL_DEPLOYMENTS, namespace, args.deployment, {"spec": {"approval": approval}})
    except KubeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        kube.close()
    print(
        f"approved version {approval['version']} ({approval['digest'][:19]}…) of "
        f"{namespace}/{args.deployment} by {approval['approvedBy']}"
    )
    return 0
