"""Typed readings of the children a Deployment owns: stage Deployments, pods, acceptance Jobs.

Children are Kubernetes objects (plain dicts); this module is the one place that reads their
fields, and turns each into a small frozen observation the decision works on. No I/O.

"Ready" here means what a user would mean: the Deployment controller has seen the newest spec,
every replica runs the new template, none of the old pods are left, and the pods serving the
expected version pass their readiness probes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from modelship.contracts.acceptance import AcceptanceJobReport
from modelship.operator.naming import LABEL_VERSION

Obj = dict[str, Any]
SPEC_HASH = "modelship.io/spec-hash"


def spec_hash(body: Obj) -> str:
    return hashlib.sha256(json.dumps(body["spec"], sort_keys=True).encode()).hexdigest()[:16]


def with_spec_hash(body: Obj) -> Obj:
    body["metadata"].setdefault("annotations", {})[SPEC_HASH] = spec_hash(body)
    return body


def applied_hash(obj: Obj | None) -> str | None:
    """The fingerprint of the spec we last applied to `obj` (None: absent or not ours)."""
    if obj is None:
        return None
    return str((obj["metadata"].get("annotations") or {}).get(SPEC_HASH, "")) or None


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


@dataclass(frozen=True)
class Applied:
    """A child the operator applies, as observed: the fingerprint of the spec it last got."""

    spec_hash: str | None

    @classmethod
    def of(cls, obj: Obj | None) -> Applied | None:
        return None if obj is None else cls(applied_hash(obj))


@dataclass(frozen=True)
class StageRollout(Applied):
    """One stage's apps/v1 Deployment as last observed."""

    complete: bool = False
    deadline_exceeded: bool = False
    ready_replicas: int = 0

    @classmethod
    def of(cls, deployment: Obj | None) -> StageRollout | None:
        if deployment is None:
            return None
        return StageRollout(
            spec_hash=applied_hash(deployment),
            complete=rollout_complete(deployment),
            deadline_exceeded=deadline_exceeded(deployment),
            ready_replicas=int((deployment.get("status") or {}).get("readyReplicas", 0)),
        )


def pod_ready(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", []) or []
    )


def _trouble(pod: Obj) -> str:
    """The most telling reason why this pod is not ready, or ''."""
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
class PodState:
    """A serving pod: which version it runs, whether it is ready, and where it listens."""

    name: str
    version: str | None
    ready: bool
    ip: str | None
    trouble: str

    @classmethod
    def of(cls, pod: Obj) -> PodState:
        return cls(
            name=str(pod["metadata"]["name"]),
            version=(pod["metadata"].get("labels") or {}).get(LABEL_VERSION),
            ready=pod_ready(pod),
            ip=(pod.get("status") or {}).get("podIP") or None,
            trouble=_trouble(pod),
        )


def ready_targets(pods: list[PodState], version: int, port: int) -> list[str]:
    """Base URLs of the ready pods serving `version`."""
    return sorted(
        f"http://{pod.ip}:{port}"
        for pod in pods
        if pod.version == str(version) and pod.ready and pod.ip
    )


def pod_trouble(pods: list[PodState]) -> str:
    """The most telling reason why pods are not ready, for status messages."""
    return next((pod.trouble for pod in pods if pod.trouble), "")


@dataclass(frozen=True)
class AcceptanceJob:
    """The acceptance Job of one version: finished or not, and what its pod reported."""

    finished: bool
    complete: bool = False
    failure: str | None = None  # the Job's Failed condition message
    report: AcceptanceJobReport | None = None

    @classmethod
    def of(cls, job: Obj, pods: list[Obj]) -> AcceptanceJob:
        conditions = {
            c.get("type"): c
            for c in job.get("status", {}).get("conditions", []) or []
            if c.get("status") == "True"
        }
        if "Complete" not in conditions and "Failed" not in conditions:
            return cls(finished=False)
        return cls(
            finished=True,
            complete="Complete" in conditions,
            failure=conditions.get("Failed", {}).get("message"),
            report=AcceptanceJobReport.from_message(_termination_message(pods)),
        )


def _termination_message(pods: list[Obj]) -> str:
    """The newest pod's termination message."""
    for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True):
        for cs in pod.get("status", {}).get("containerStatuses", []) or []:
            terminated = cs.get("state", {}).get("terminated")
            if terminated and terminated.get("message"):
                return str(terminated["message"])
    return ""


@dataclass(frozen=True)
class AcceptanceResult:
    """What the acceptance Job found: still running, a verdict (`report`), or an `error`."""

    running: bool
    report: AcceptanceJobReport | None = None
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.report is not None and self.report.passed


def acceptance_result(job: AcceptanceJob | None) -> AcceptanceResult:
    if job is None or not job.finished:
        return AcceptanceResult(running=True)
    report = job.report
    if job.complete and report is not None and report.checks is not None:
        return AcceptanceResult(running=False, report=report)
    error = (report.error if report else None) or job.failure or "no report"
    return AcceptanceResult(running=False, error=error)
