"""Observe a BatchPrediction: what resolving its version needs (until it is pinned), and the
Job of its current step with the report its pod left. The only reads before `decide`."""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import BatchPrediction, DeploymentStatus, ModelStatus
from modelship.contracts.batch import BatchReport
from modelship.operator.batch.builders import job_name
from modelship.operator.batch.decide import current_step, needs_facts
from modelship.operator.batch.observation import (
    ABSENT,
    ApprovalRecord,
    CatalogVersion,
    JobReading,
    JobState,
    Observation,
    VersionFacts,
)
from modelship.operator.kube.client import Kube
from modelship.operator.kube.lookups import deployments_of_model
from modelship.operator.kube.resources import JOBS, MODELS, PODS

Obj = dict[str, Any]


def observe(kube: Kube, body: Obj, bp: BatchPrediction) -> Observation:
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    facts = version_facts(kube, namespace, bp.spec.model) if needs_facts(bp.status) else None
    step = current_step(bp.status)
    if step is None:
        return Observation(facts=facts)
    job = kube.get(JOBS, namespace, job_name(name, *step))
    if job is None:
        return Observation(facts=facts, job=ABSENT)
    pods = kube.list(PODS, namespace, {"job-name": job["metadata"]["name"]})
    return Observation(facts=facts, job=read_job(job, pods))


def version_facts(kube: Kube, namespace: str, model: str) -> VersionFacts:
    """The Model's versions and what its Deployments record as promoted, with approvers."""
    body = kube.get(MODELS, namespace, model)
    if body is None:
        return VersionFacts(model_exists=False)
    status = ModelStatus.model_validate(body.get("status") or {})
    versions = [CatalogVersion(v.version, v.digest, v.artifact) for v in status.versions]
    approvals: list[ApprovalRecord] = []
    for deployment in deployments_of_model(kube, namespace, model):
        approvals += approval_records(
            DeploymentStatus.model_validate(deployment.get("status") or {})
        )
    return VersionFacts(model_exists=True, versions=versions, approvals=approvals)


def approval_records(status: DeploymentStatus) -> list[ApprovalRecord]:
    """Versions this Deployment took to production: only approved ones ever are (the webhook
    bound the approver's identity); the serving one names its approver."""
    records = []
    production = status.production
    if production is not None and production.version is not None and production.digest:
        records.append(
            ApprovalRecord(production.version, production.digest, production.approved_by, True)
        )
    if (previous := status.previous) is not None:
        records.append(ApprovalRecord(previous.version, previous.digest, None, False))
    for entry in status.history:
        if entry.event == "Promoted" and entry.version is not None and entry.digest:
            records.append(ApprovalRecord(entry.version, entry.digest, None, False))
    return records


def read_job(job: Obj, pods: list[Obj]) -> JobReading:
    status = job.get("status") or {}
    conditions = {
        c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    state: JobState = "running"
    if "Complete" in conditions or "SuccessCriteriaMet" in conditions:
        state = "succeeded"
    elif "Failed" in conditions or "FailureTarget" in conditions:
        state = "failed"
    failed = conditions.get("Failed") or conditions.get("FailureTarget") or {}
    wanted = "Succeeded" if state == "succeeded" else "Failed"
    return JobReading(
        state=state,
        report=_report(pods, wanted),
        succeeded=int(status.get("succeeded") or 0),
        running=int(status.get("active") or 0),
        failed=count_indexes(str(status.get("failedIndexes") or "")),
        failed_indexes=str(status.get("failedIndexes") or ""),
        message=str(failed.get("message") or failed.get("reason") or ""),
    )


def count_indexes(text: str) -> int:
    """How many indexes `1,3-5` names (the form Jobs report completed and failed ones in)."""
    total = 0
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        total += int(high or low) - int(low) + 1
    return total


def _report(pods: list[Obj], phase: str) -> BatchReport | None:
    """The newest report among pods in `phase` (a failed run: the failing pod's reason)."""
    newest = sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
    for pod in newest:
        if (pod.get("status") or {}).get("phase") != phase:
            continue
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated") or {}
            report = BatchReport.from_message(terminated.get("message"))
            if report is not None:
                return report
    return None
