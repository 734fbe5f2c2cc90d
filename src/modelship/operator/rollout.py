"""Read stage Deployments, their pods and acceptance Jobs; decide approvals. No I/O.

"Ready" here means what a user would mean: the Deployment controller has seen the newest spec,
every replica runs the new template, none of the old pods are left, and the pods serving the
expected version pass their readiness probes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from modelship.api.v1alpha1 import LOWER_IS_BETTER, Approval
from modelship.operator.naming import LABEL_VERSION
from modelship.operator.training_outcome import parse_termination_message

Obj = dict[str, Any]
SPEC_HASH = "modelship.io/spec-hash"


def spec_hash(body: Obj) -> str:
    return hashlib.sha256(json.dumps(body["spec"], sort_keys=True).encode()).hexdigest()[:16]


def with_spec_hash(body: Obj) -> Obj:
    body["metadata"].setdefault("annotations", {})[SPEC_HASH] = spec_hash(body)
    return body


def needs_update(current: Obj, desired: Obj) -> bool:
    annotations = current["metadata"].get("annotations") or {}
    return bool(annotations.get(SPEC_HASH) != desired["metadata"]["annotations"][SPEC_HASH])


def rollout_complete(deployment: Obj | None) -> bool:
    if deployment is None:
        return False
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    wanted = int(spec.get("replicas", 1))
    return (
        int(status.get("observedGeneration", 0)) >= int(deployment["metadata"].get("generation", 0))
        and int(status.get("updatedReplicas", 0)) == wanted
        and int(status.get("readyReplicas", 0)) >= wanted
        and int(status.get("availableReplicas", 0)) >= wanted
        and int(status.get("replicas", 0)) == wanted
    )


def deadline_exceeded(deployment: Obj | None) -> bool:
    """The Deployment controller gave up on this rollout (progressDeadlineSeconds)."""
    if deployment is None:
        return False
    status = deployment.get("status", {})
    if int(status.get("observedGeneration", 0)) < int(deployment["metadata"].get("generation", 0)):
        return False
    return any(
        c.get("type") == "Progressing"
        and c.get("status") == "False"
        and c.get("reason") == "ProgressDeadlineExceeded"
        for c in status.get("conditions", []) or []
    )


def pod_ready(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", []) or []
    )


def ready_targets(pods: list[Obj], version: int, port: int) -> list[str]:
    """Base URLs of the ready pods serving `version`."""
    return sorted(
        f"http://{pod['status']['podIP']}:{port}"
        for pod in pods
        if pod["metadata"].get("labels", {}).get(LABEL_VERSION) == str(version)
        and pod_ready(pod)
        and pod.get("status", {}).get("podIP")
    )


def pod_trouble(pods: list[Obj]) -> str:
    """The most telling reason why pods are not ready, for status messages."""
    for pod in pods:
        for cs in pod.get("status", {}).get("containerStatuses", []) or []:
            state = cs.get("state", {})
            waiting, terminated = state.get("waiting"), cs.get("lastState", {}).get("terminated")
            if waiting and waiting.get("reason") not in (None, "ContainerCreating"):
                name, reason = pod["metadata"]["name"], waiting.get("reason")
                return f"{name}: {reason} {waiting.get('message', '')}".strip()
            if terminated:
                return (
                    f"{pod['metadata']['name']}: exited {terminated.get('exitCode')} "
                    f"{terminated.get('message', '')}"
                ).strip()
        if not pod_ready(pod):
            return f"{pod['metadata']['name']}: not ready (the server's /v2/health/ready says why)"
    return ""


@dataclass(frozen=True)
class AcceptanceResult:
    state: str  # running | done
    report: Obj
    passed: bool = False
    error: str = ""


def acceptance_result(job: Obj | None, pods: list[Obj]) -> AcceptanceResult:
    if job is None:
        return AcceptanceResult("running", {})
    conditions = {
        c.get("type"): c
        for c in job.get("status", {}).get("conditions", []) or []
        if c.get("status") == "True"
    }
    if "Complete" not in conditions and "Failed" not in conditions:
        return AcceptanceResult("running", {})
    message = ""
    for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True):
        for cs in pod.get("status", {}).get("containerStatuses", []) or []:
            terminated = cs.get("state", {}).get("terminated")
            if terminated and terminated.get("message"):
                message = terminated["message"]
                break
        if message:
            break
    report = parse_termination_message(message)
    if "Complete" in conditions and "checks" in report:
        return AcceptanceResult("done", report, passed=bool(report.get("passed")))
    error = str(report.get("error") or conditions.get("Failed", {}).get("message") or "no report")
    return AcceptanceResult("done", {}, passed=False, error=error)


@dataclass(frozen=True)
class ApprovalVerdict:
    approved: bool
    reason: str
    message: str


def judge_approval(
    approval: Approval | None,
    test: Obj,
    production: Obj,
    failed_rollout: Obj | None,
    generation: int,
) -> ApprovalVerdict:
    """Production changes only for an approval naming the tested, passing version and digest."""
    if approval is None:
        if test.get("passed"):
            return ApprovalVerdict(
                False,
                "AwaitingApproval",
                f"version {test.get('version')} passed testing; set spec.approval "
                "(modelship approve) to promote it",
            )
        return ApprovalVerdict(False, "NoApproval", "no approval given")
    named = approval.version
    if (
        production.get("version") == named
        and (approval.digest in (None, production.get("digest")))
        and not (failed_rollout and failed_rollout.get("version") == named)
    ):
        return ApprovalVerdict(True, "Approved", f"version {named} is approved and in production")
    if test.get("version") != named:
        return ApprovalVerdict(
            False,
            "VersionNotTested",
            f"approval names version {named}, but the test stage holds version "
            f"{test.get('version')}; nothing was changed",
        )
    if test.get("passed") is not True:
        state = "failed" if test.get("passed") is False else "not finished"
        return ApprovalVerdict(
            False,
            "TestNotPassed",
            f"version {named} {state} its acceptance tests; nothing was changed",
        )
    if approval.digest is not None and approval.digest != test.get("digest"):
        return ApprovalVerdict(
            False,
            "DigestMismatch",
            f"approval digest {approval.digest} is not the tested digest "
            f"{test.get('digest')}; nothing was changed",
        )
    if (
        failed_rollout
        and failed_rollout.get("version") == named
        and int(failed_rollout.get("generation", 0)) >= generation
    ):
        return ApprovalVerdict(
            False,
            "RolloutFailed",
            f"version {named} failed its production rollout and was rolled back; "
            "update the approval to try again",
        )
    who = f" by {approval.approved_by}" if approval.approved_by else ""
    return ApprovalVerdict(True, "Approved", f"version {named} approved{who}")


AUTO_APPROVER = "autoApprove"


def auto_approval_rule(
    metric: str, version: Any, production: Obj, versions: list[Obj]
) -> str | None:
    """Why `version` may be promoted automatically, or None (pure).

    Gates and acceptance passed (the caller checked acceptance), production already serves a
    version (the first promotion is always a person's), and the metric is at least production's.
    """
    if production.get("version") is None or not production.get("promotedAt"):
        return None
    if production.get("version") == version:
        return None
    by_version = {v.get("version"): v for v in versions}
    candidate, champion = by_version.get(version), by_version.get(production["version"])
    if candidate is None or champion is None or not candidate.get("passedGates"):
        return None
    new, old = (
        (candidate.get("metrics") or {}).get(metric),
        (champion.get("metrics") or {}).get(metric),
    )
    if new is None or old is None:
        return None
    better = new <= old if metric in LOWER_IS_BETTER else new >= old
    if not better:
        return None
    relation = "<=" if metric in LOWER_IS_BETTER else ">="
    return (
        f"autoApprove: gates and acceptance passed; {metric} {new:.4g} {relation} "
        f"{old:.4g} of production version {production['version']}"
    )


def effective_approval(approval: Approval | None, auto: Obj | None) -> Approval | None:
    """The newer of the user's approval and the operator's automatic one."""
    if not auto:
        return approval
    if approval is not None and approval.version >= int(auto["version"]):
        return approval
    return Approval(version=int(auto["version"]), digest=auto["digest"], approved_by=AUTO_APPROVER)
