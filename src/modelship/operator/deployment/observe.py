"""Observe: read what a Deployment's reconcile needs, once, into typed observations.

The reads are the only API calls before the decision. Children a decision cannot use are not
read (test pods and the acceptance Job once the test stage has its verdict; production children
while nothing could reach production), so a settled Deployment costs few calls.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from modelship.api.v1alpha1 import Deployment, VersionRef
from modelship.operator.deployment.builders.acceptance import acceptance_job_name
from modelship.operator.deployment.builders.stages import stage_name, stage_selector
from modelship.operator.deployment.canary_observe import observe_canary
from modelship.operator.deployment.observation import (
    CanaryView,
    ModelView,
    Observation,
    Stage,
    Subject,
    wanted,
)
from modelship.operator.deployment.rollout import (
    AcceptanceJob,
    Applied,
    EvaluationJob,
    PodState,
    StageRollout,
)
from modelship.operator.deployment.traffic import TrafficReader
from modelship.operator.deployment.versions import resolve_version
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import (
    APPS_DEPLOYMENTS,
    HPAS_V2,
    JOBS,
    MODELS,
    PDBS,
    PODS,
    SERVICES,
)

Obj = dict[str, Any]


def observe(
    kube: Kube, subject: Subject, reader: TrafficReader | None = None, now: datetime | None = None
) -> Observation:
    """Read the Model and the children of a valid Deployment, and the evaluation Job running."""
    seen = _observe(kube, subject, reader, now)
    performance = subject.status.performance
    if seen.model is None or performance is None or performance.job is None:
        return seen
    job = kube.get(JOBS, subject.namespace, performance.job)
    if job is None:
        return seen
    finished = EvaluationJob.of(job, []).finished
    pods = kube.list(PODS, subject.namespace, {"job-name": performance.job}) if finished else []
    return replace(seen, evaluation=EvaluationJob.of(job, pods))


def _observe(
    kube: Kube, subject: Subject, reader: TrafficReader | None, now: datetime | None
) -> Observation:
    mdep = subject.mdep
    assert mdep is not None, "observe is for valid Deployments"
    ns, name = subject.namespace, subject.name
    raw_model = kube.get(MODELS, ns, mdep.spec.model_ref.name)
    if raw_model is None:
        return Observation()
    model = ModelView.of(raw_model)
    target = resolve_version(mdep.spec.version, model.status)
    if not isinstance(target, VersionRef):
        return Observation(model=model)
    test, acceptance = _test_stage(kube, subject, target)
    if not _production_possible(mdep):
        return Observation(model, test, acceptance=acceptance)
    deployment = StageRollout.of(kube.get(APPS_DEPLOYMENTS, ns, name))
    pods = (
        [PodState.of(p) for p in kube.list(PODS, ns, stage_selector(name, "production"))]
        if deployment is not None and deployment.deadline_exceeded
        else []
    )
    production = Stage(Applied.of(kube.get(SERVICES, ns, name)), deployment, pods)
    pdb = Applied.of(kube.get(PDBS, ns, name))
    canary = (
        observe_canary(kube, mdep, ns, name, reader, now or datetime.now(UTC))
        if wanted(mdep)
        else CanaryView()
    )
    hpa = Applied.of(kube.get(HPAS_V2, ns, name))
    return Observation(model, test, production, pdb, acceptance, canary, hpa)


def _test_stage(
    kube: Kube, subject: Subject, target: VersionRef
) -> tuple[Stage, AcceptanceJob | None]:
    ns, test_name = subject.namespace, stage_name(subject.name, "test")
    service = Applied.of(kube.get(SERVICES, ns, test_name))
    deployment = StageRollout.of(kube.get(APPS_DEPLOYMENTS, ns, test_name))
    tested = subject.status.test
    if deployment is None or (
        tested is not None
        and (tested.version, tested.digest) == (target.version, target.digest)
        and tested.passed is not None
    ):
        return Stage(service, deployment), None  # nothing to wait for at the test stage
    pods = [PodState.of(p) for p in kube.list(PODS, ns, stage_selector(subject.name, "test"))]
    job_name = acceptance_job_name(subject.name, target.version, target.digest)
    job = kube.get(JOBS, ns, job_name) if deployment.complete else None
    if job is None:
        return Stage(service, deployment, pods), None
    job_pods = kube.list(PODS, ns, {"job-name": job_name}) if _finished(job) else []
    return Stage(service, deployment, pods), AcceptanceJob.of(job, job_pods)


def _finished(job: Obj) -> bool:
    return AcceptanceJob.of(job, []).finished


def _production_possible(mdep: Deployment) -> bool:
    """Whether production may exist or be created now: served, approved, or auto-approvable."""
    spec, status = mdep.spec, mdep.status
    return (
        status.production is not None
        or spec.approval is not None
        or status.auto_approval is not None
        or (spec.auto_approve is not None and spec.auto_approve.enabled)
    )
