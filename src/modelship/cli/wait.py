"""`modelship wait`: block a pipeline until an object reaches a goal, like `kubectl wait`.

    modelship wait deployment/iris --for AwaitingApproval --version 7 --timeout 10m --junit out.xml

Exit codes a pipeline can branch on: 0 reached; 1 it can no longer get there (acceptance or gates
failed, rolled back, deleted), with the reason and the acceptance report printed; 2 bad arguments;
3 timed out. It watches the object (one list, then the API server's watch), never polls.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException

from modelship.cli.kubectx import current_namespace
from modelship.client.junit import write_junit
from modelship.client.waiting import KIND_NAMES, Kind, State, Verdict, judge
from modelship.client.watch import follow
from modelship.operator.kube.client import load_api_client

REACHED, UNREACHABLE, BAD_ARGUMENTS, TIMED_OUT = 0, 1, 2, 3
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "wait",
        help="wait until a Deployment, Model, TrainingJob or BatchPrediction reaches a goal "
        "(exit 0/1/3)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target", help="KIND/NAME: deployment/iris, model/iris, tj/iris-abc12, bp/nightly"
    )
    parser.add_argument(
        "--for",
        dest="goal",
        required=True,
        help="AwaitingApproval or Serving (Deployment), Trained (Model), Succeeded "
        "(TrainingJob, BatchPrediction)",
    )
    parser.add_argument("--version", type=int, default=None, help="the version that must get there")
    parser.add_argument("--timeout", default="10m", help="how long to wait: 90s, 10m, 1h30m")
    parser.add_argument("-n", "--namespace", default=None, help="namespace (default: kubeconfig's)")
    parser.add_argument("--junit", type=Path, default=None, help="write the outcome as JUnit XML")
    parser.add_argument(
        "--kubeconfig", default=os.environ.get("KUBECONFIG"), help="kubeconfig file"
    )
    parser.set_defaults(func=wait)


def parse_duration(text: str) -> float:
    """`90`, `90s`, `10m`, `1h30m` as seconds; ValueError otherwise."""
    if text.isdigit():
        return float(text)
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 10m, 1h30m)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def parse_target(text: str, goal: str) -> tuple[Kind, str]:
    kind_name, _, name = text.partition("/")
    kind = KIND_NAMES.get(kind_name.lower())
    if kind is None or not name:
        raise ValueError(f"target must be KIND/NAME with KIND one of {', '.join(KIND_NAMES)}")
    if goal not in kind.goals:
        raise ValueError(f"--for {goal}: a {kind_name} can reach {', '.join(kind.goals)}")
    return kind, name


def wait(args: argparse.Namespace) -> int:
    try:
        kind, name = parse_target(args.target, args.goal)
        timeout = parse_duration(args.timeout)
        if args.version is not None and args.version < 1:
            raise ValueError("--version must be 1 or more")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_ARGUMENTS
    namespace = args.namespace or current_namespace(args.kubeconfig)
    try:
        api = load_api_client(args.kubeconfig)
    except ConfigException as exc:
        print(f"error: no cluster to ask: {exc}", file=sys.stderr)
        return UNREACHABLE
    try:
        verdict = follow(
            api,
            kind,
            namespace,
            name,
            lambda body: judge(kind, args.goal, args.version, body),
            timeout,
        )
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
        # Like kubectl wait: an API error (forbidden, unreachable) is a failure, not a timeout.
        print(f"error: {getattr(exc, 'reason', None) or exc}", file=sys.stderr)
        return UNREACHABLE
    finally:
        api.close()  # type: ignore[no-untyped-call]
    target = f"{namespace}/{name}"
    if args.junit is not None:
        write_junit(args.junit, target, args.goal, verdict)
    return _report(args.target, args.goal, verdict)


def _report(target: str, goal: str, verdict: Verdict) -> int:
    if verdict.state is State.REACHED:
        print(f"{target}: {goal}: {verdict.message}")
        return REACHED
    if verdict.state is State.UNREACHABLE:
        print(f"{target} will not reach {goal}: {verdict.message}", file=sys.stderr)
        if verdict.report is not None:
            for check in verdict.report.checks:
                mark = "PASS" if check.passed else "FAIL"
                value = "" if check.value is None else f" {check.value:g}"
                bound = f" (bound {check.bound})" if check.bound else ""
                print(f"  {mark} {check.name}{value}{bound} {check.message}", file=sys.stderr)
        return UNREACHABLE
    print(f"{target}: timed out waiting for {goal} ({verdict.message})", file=sys.stderr)
    return TIMED_OUT
