"""`modelship approve`: approve the version that passed the test stage (also `kubectl modelship`).

Approving writes `spec.approval` with the tested version *and its digest*, so the approval cannot
silently apply to a different artifact later; the operator still re-checks everything. It sends
no name: the cluster's admission webhook records who approved from the authenticated request
(and refuses those without the approve right), and this command prints what it recorded.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any

from modelship.api.v1alpha1 import Approval, DeploymentStatus, TestStageStatus
from modelship.cli.kubectx import current_namespace
from modelship.contracts.approval import identity_for
from modelship.operator.kube.client import Kube, KubeError, load_api_client
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "approve", help="approve the version a Deployment's test stage passed for production"
    )
    parser.add_argument("deployment", help="name of the modelship Deployment (kubectl get mdep)")
    parser.add_argument("-n", "--namespace", default=None, help="namespace (default: kubeconfig's)")
    parser.add_argument(
        "--version", type=int, default=None, help="refuse unless this is the tested version"
    )
    parser.add_argument(
        "--kubeconfig", default=os.environ.get("KUBECONFIG"), help="kubeconfig file"
    )
    parser.set_defaults(func=approve)


def approval_for(status: Mapping[str, Any], wanted: int | None) -> dict[str, Any]:
    """The `spec.approval` to write for a Deployment's status as the API server returns it, or
    ValueError saying why there is nothing to approve."""
    test = DeploymentStatus.model_validate(status).test or TestStageStatus()
    if test.passed is not True:
        state = "failed its tests" if test.passed is False else "has not finished testing"
        shown = "?" if test.version is None else test.version
        raise ValueError(f"nothing to approve: version {shown} {state}")
    if wanted is not None and wanted != test.version:
        raise ValueError(f"version {wanted} is not the tested version ({test.version} passed)")
    if test.version is None or test.digest is None:
        raise ValueError("nothing to approve: the test stage recorded no version and digest")
    approval = Approval(version=test.version, digest=test.digest)
    return approval.to_wire()


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
            approval = approval_for(body.get("status") or {}, args.version)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        # A merge patch replaces spec.approval whole: an earlier approvedBy does not linger.
        patch = {"spec": {"approval": {"approvedBy": None, **approval}}}
        written = kube.patch(MODEL_DEPLOYMENTS, namespace, args.deployment, patch)
    except KubeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        kube.close()
    return report(namespace, args.deployment, approval, written)


def report(
    namespace: str, name: str, approval: Mapping[str, Any], written: Mapping[str, Any]
) -> int:
    """Print who the cluster recorded as approver; fail when it recorded nobody (no webhook)."""
    meta = written.get("metadata") or {}
    identity = identity_for(meta.get("annotations"), (written.get("spec") or {}).get("approval"))
    what = f"version {approval['version']} ({str(approval['digest'])[:19]}…) of {namespace}/{name}"
    if identity is None:
        print(
            f"error: {what} was written, but the cluster recorded no approver: the approval "
            "webhook is not installed, so the operator will not promote it",
            file=sys.stderr,
        )
        return 1
    groups = ", ".join(g for g in identity.groups if g != "system:authenticated")
    print(
        f"approved {what}; recorded approver: {identity.display}"
        + (f" [{groups}]" if groups else "")
    )
    return 0
