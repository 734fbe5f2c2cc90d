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
from modelship.contracts.evaluation import EvaluationReport
from modelship.operator.kube.naming import LABEL_VERSION
from modelship.operator.kube.views import AppsDeployment, Job, ObjectMeta, Pod, true_conditions

Obj = dict[str, Any]
SPEC_HASH = "modelship.io/spec-hash"


def desired_content(body: Obj) -> Obj:
    """What the operator sets in a child besides its metadata: `spec`, or for kinds without one
    (ConfigMap, Role, RoleBinding, ServiceAccount) their top-level fields."""
    return {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata", "status")}


def spec_hash(body: Obj) -> str:
    content = body["spec"] if "spec" in body else desired_content(body)
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def with_spec_hash(body: Obj) -> Obj:
    body["metadata"].setdefault("annotations", {})[SPEC_HASH] = spec_hash(body)
    return body


def applied_hash(obj: Obj | None) -> str | None:
    """The fingerprint of the spec we last applied to `obj` (None: absent or not ours)."""
    if obj is None:
        return None
    return ObjectMeta.model_validate(obj.get("metadata") or {}).annotations.get(SPEC_HASH)


def rollout_complete(deployment: Obj | None) -> bool:
    if deployment is None:
        return False
    seen = AppsDeployment.model_validate(deployment)
    status, wanted = seen.status, seen.spec.replicas
    return (
        status.observed_generation >= seen.metadata.generation
        and status.updated_replicas == wanted
        and status.ready_replicas >= wanted
        and status.available_replicas >= wanted
        and status.replicas == wanted
    )


def deadline_exceeded(deployment: Obj | None) -> bool:
    """The Deployment controller gave up on this rollout (progressDeadlineSeconds)."""
    if deployment is None:
        return False
    seen = AppsDeployment.model_validate(deployment)
    if seen.status.observed_generation < seen.metadata.generation:
        return False
    return any(
        c.type == "Progressing" and c.status == "False" and c.reason == "ProgressDeadlineExceeded"
        for c in seen.status.conditions
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
    replicas: int = 1  # asked for (spec)
    old_pods: int = 0  # pods of an earlier template still present: a rollout is under way

    @classmethod
    def of(cls, deployment: Obj | None) -> StageRollout | None:
        if deployment is None:
            return None
        seen = AppsDeployment.model_validate(deployment)
        return StageRollout(
            spec_hash=applied_hash(deployment),
            complete=rollout_complete(deployment),
            deadline_exceeded=deadline_exceeded(deployment),
            ready_replicas=seen.status.ready_replicas,
            replicas=seen.spec.replicas,
            old_pods=max(0, seen.status.replicas - seen.status.updated_replicas),
        )


def pod_ready(pod: Obj) -> bool:
    return _ready(Pod.model_validate(pod))


def _ready(pod: Pod) -> bool:
    return not pod.metadata.deletion_timestamp and "Ready" in true_conditions(pod.status.conditions)


def _trouble(pod: Pod) -> str:
    """The most telling reason why this pod is not ready, or ''."""
    name = pod.metadata.name
    for cs in pod.status.container_statuses:
        waiting, terminated = cs.state.waiting, cs.last_state.terminated
        if waiting and waiting.reason not in (None, "ContainerCreating"):
            return f"{name}: {waiting.reason} {waiting.message or ''}".strip()
        if terminated:
            return f"{name}: exited {terminated.exit_code} {terminated.message or ''}".strip()
    if not _ready(pod):
        return f"{name}: not ready (the server's /v2/health/ready says why)"
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
        seen = Pod.model_validate(pod)
        return cls(
            name=seen.metadata.name,
            version=seen.metadata.labels.get(LABEL_VERSION),
            ready=_ready(seen),
            ip=seen.status.pod_ip or None,
            trouble=_trouble(seen),
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
        end = _job_end(job)
        if end is None:
            return cls(finished=False)
        complete, failure = end
        report = AcceptanceJobReport.from_message(_termination_message(pods))
        return cls(finished=True, complete=complete, failure=failure, report=report)


@dataclass(frozen=True)
class EvaluationJob:
    """The running evaluation Job: finished or not, and the totals its pod reported."""

    finished: bool
    failure: str | None = None  # the Job's Failed condition message
    report: EvaluationReport | None = None

    @classmethod
    def of(cls, job: Obj, pods: list[Obj]) -> EvaluationJob:
        end = _job_end(job)
        if end is None:
            return cls(finished=False)
        report = EvaluationReport.from_message(_termination_message(pods))
        return cls(finished=True, failure=end[1], report=report)


def _job_end(job: Obj) -> tuple[bool, str | None] | None:
    """A finished Job's (Complete, its Failed condition's message); None while it runs."""
    conditions = true_conditions(Job.model_validate(job).status.conditions)
    if "Complete" not in conditions and "Failed" not in conditions:
        return None
    failed = conditions.get("Failed")
    return "Complete" in conditions, failed.message if failed else None


def _termination_message(pods: list[Obj]) -> str:
    """The newest pod's termination message."""
    seen = sorted(
        (Pod.model_validate(p) for p in pods),
        key=lambda p: p.metadata.creation_timestamp,
        reverse=True,
    )
    for pod in seen:
        for cs in pod.status.container_statuses:
            if cs.state.terminated and cs.state.terminated.message:
                return cs.state.terminated.message
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
