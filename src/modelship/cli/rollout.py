"""`modelship promote` and `modelship abort`: move a paused canary on, or stop it.

Both write an annotation naming exactly the canary (and, for promote, the step) they mean, so a
command typed against a canary that has since moved on, or been replaced, does nothing. The
operator acts on it at its next look; this command says what it asked for and what status said.
"""

from __future__ import annotations

import argparse
import os
import sys

from modelship.api.v1alpha1 import DeploymentStatus
from modelship.cli.kubectx import current_namespace
from modelship.contracts.approval import ABORT_ANNOTATION, PROMOTE_ANNOTATION
from modelship.operator.kube.client import Kube, KubeError, load_api_client
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for command, help_ in (
        ("promote", "release the paused step of a Deployment's canary"),
        ("abort", "abort a Deployment's canary: every request goes back to stable"),
    ):
        parser = subparsers.add_parser(command, help=help_)
        parser.add_argument(
            "deployment", help="name of the modelship Deployment (kubectl get mdep)"
        )
        parser.add_argument(
            "-n", "--namespace", default=None, help="namespace (default: kubeconfig's)"
        )
        parser.add_argument(
            "--kubeconfig", default=os.environ.get("KUBECONFIG"), help="kubeconfig file"
        )
        parser.set_defaults(func=promote if command == "promote" else abort)


def annotation_for(command: str, status: DeploymentStatus) -> tuple[str, str]:
    """The annotation that asks the operator for `command` on the current canary, or ValueError."""
    canary = status.canary
    if canary is None or canary.state not in ("Progressing", "Waiting"):
        raise ValueError("no canary is in progress")
    if command == "abort":
        return ABORT_ANNOTATION, str(canary.version)
    if "modelship promote" not in canary.waiting_for:
        raise ValueError(
            f"canary version {canary.version} is not paused for promote "
            f"(step {canary.step}: {canary.waiting_for or 'moving'})"
        )
    return PROMOTE_ANNOTATION, f"{canary.version}/{canary.step}"


def promote(args: argparse.Namespace) -> int:
    return _annotate("promote", args)


def abort(args: argparse.Namespace) -> int:
    return _annotate("abort", args)


def _annotate(command: str, args: argparse.Namespace) -> int:
    namespace = args.namespace or current_namespace(args.kubeconfig)
    kube = Kube(load_api_client(args.kubeconfig))
    try:
        body = kube.get(MODEL_DEPLOYMENTS, namespace, args.deployment)
        if body is None:
            print(
                f"error: deployment {args.deployment!r} not found in {namespace!r}", file=sys.stderr
            )
            return 1
        try:
            key, value = annotation_for(
                command, DeploymentStatus.model_validate(body.get("status") or {})
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        kube.patch(
            MODEL_DEPLOYMENTS,
            namespace,
            args.deployment,
            {"metadata": {"annotations": {key: value}}},
        )
    except KubeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        kube.close()
    print(f"{command} requested for canary {value} of {namespace}/{args.deployment}")
    return 0
