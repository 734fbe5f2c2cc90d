"""Decide production: record an automatic approval, judge the approval, promote, roll back.

Production changes only when `judge_approval` approves. A promotion rolls the production
Deployment with surge and no unavailability; when the Deployment controller gives up on it
(progressDeadlineSeconds) before it ever completed, the previous version is put back, or, with
none, production is removed; the failed version is recorded so the same approval cannot retry it.
"""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import (
    PRIMARY_METRIC,
    AutoApproval,
    MonitoringSpec,
    ProductionStatus,
    VersionRef,
)
from modelship.api.v1alpha1.deployment import FailedRollout
from modelship.operator.deployment.actions import Draft
from modelship.operator.deployment.approval import (
    attributed,
    auto_approval_rule,
    effective_approval,
    judge_approval,
)
from modelship.operator.deployment.builders.canary import production_selector
from modelship.operator.deployment.builders.stages import (
    build_pdb,
    build_stage_deployment,
    build_stage_service,
    service_selector,
)
from modelship.operator.deployment.builders.traffic import shared_selector
from modelship.operator.deployment.canary import canary_applies, step_canary
from modelship.operator.deployment.canary_children import apply_progressive, retire_progressive
from modelship.operator.deployment.observation import ModelView, Observation, Subject
from modelship.operator.deployment.production_scale import production_replicas, wants_pdb
from modelship.operator.deployment.rollout import pod_trouble
from modelship.operator.kube.resources import APPS_DEPLOYMENTS, PDBS, SERVICES
from modelship.operator.settings import OperatorSettings


def decide_production(
    draft: Draft, subject: Subject, seen: Observation, model: ModelView, settings: OperatorSettings
) -> None:
    mdep = subject.mdep
    assert mdep is not None
    status = draft.status
    production = status.production.model_copy() if status.production else ProductionStatus()
    auto_approve(draft, subject, model, production)
    recorded = attributed(
        mdep.spec.approval,
        subject.body["metadata"].get("annotations"),
        (subject.body.get("spec") or {}).get("approval"),
    )
    approval = effective_approval(recorded, status.auto_approval)
    verdict = judge_approval(
        approval, status.test, production, status.failed_rollout, subject.generation
    )
    draft.condition("Approved", verdict.approved, verdict.reason, verdict.message)
    if (
        verdict.approved
        and approval is not None
        and production.version != approval.version
        and canary_applies(subject, production)
    ):
        production = step_canary(draft, subject, approval, production, seen)
    elif verdict.approved and approval is not None and production.version != approval.version:
        assert status.test is not None and status.test.digest is not None  # judged as tested
        if production.version is not None and production.digest is not None:
            status.previous = VersionRef(
                version=production.version, digest=production.digest, artifact=production.artifact
            )
        production = ProductionStatus(
            version=approval.version,
            digest=status.test.digest,
            artifact=status.test.artifact,
            service=subject.name,
            ready_replicas=0,
            approved_by=approval.approved_by,
        )
        draft.record("Promoting", approval.version, status.test.digest, verdict.message)
        draft.event("Promoting", f"promoting version {approval.version}: {verdict.message}")
    if production.version is None or production.digest is None:
        status.production = None
        return
    routing = apply_progressive(draft, subject, seen, production, settings)
    service = build_stage_service(subject.body, "production")
    service["spec"]["selector"] = service_selector(
        shared_selector(subject.name)
        if routing.shared
        else production_selector(subject.name, routing.routed)
    )
    draft.apply(SERVICES, service, seen.production.service)
    if routing.retire:
        retire_progressive(draft, subject, seen)
    if wants_pdb(subject):
        draft.apply(PDBS, build_pdb(subject.body), seen.pdb)
    elif seen.pdb is not None:
        draft.delete(PDBS, subject.name)
    replicas = production_replicas(draft, subject, seen, production, settings)
    if routing.stable_replicas is not None:
        replicas = routing.stable_replicas  # a replica-ratio canary's share of the pods
    status.production = _roll(draft, subject, seen, production, settings, replicas)


def _roll(
    draft: Draft,
    subject: Subject,
    seen: Observation,
    production: ProductionStatus,
    settings: OperatorSettings,
    replicas: int | None,
) -> ProductionStatus | None:
    """Roll production to its version at `replicas` pods (the spec's or the autoscaler's count,
    stable's share during a replica-ratio canary; None: an HPA owns the count); complete it, or
    give up on it and roll back."""
    assert production.version is not None and production.digest is not None
    written = draft.apply(
        APPS_DEPLOYMENTS,
        _production_deployment(
            subject, production.version, production.digest, production.artifact, settings, replicas,
            _monitoring(seen),
        ),
        seen.production.deployment,
    )  # fmt: skip
    rollout = None if written else seen.production.deployment
    observed = seen.production.deployment
    production.ready_replicas = observed.ready_replicas if observed is not None else 0
    if rollout is not None and rollout.complete:
        if not production.promoted_at:
            production.promoted_at = draft.now
            draft.record(
                "Promoted", production.version, production.digest, "production rollout complete"
            )
            draft.event("Promoted", f"version {production.version} serves production")
            draft.condition(
                "RolledBack", False, "Promoted", f"version {production.version} promoted"
            )
            scaled = draft.status.autoscaling
            if scaled is not None and scaled.mode == "operator":
                # The autoscaler held production for this promotion earlier in this pass; the
                # next pass decides (and says) what follows it.
                draft.unsettled = True
    elif rollout is not None and rollout.deadline_exceeded and not production.promoted_at:
        return _roll_back(draft, subject, seen, production, settings, replicas)
    return production


def _roll_back(
    draft: Draft,
    subject: Subject,
    seen: Observation,
    failed: ProductionStatus,
    settings: OperatorSettings,
    replicas: int | None,
) -> ProductionStatus | None:
    assert failed.version is not None and failed.digest is not None
    version = str(failed.version)
    why = (
        pod_trouble([p for p in seen.production.pods if p.version == version])
        or "the rollout missed its progress deadline"
    )
    status = draft.status
    status.failed_rollout = FailedRollout(
        version=failed.version, digest=failed.digest, generation=subject.generation, reason=why
    )
    previous = status.previous
    message = f"version {failed.version} did not become ready ({why})"
    restored: ProductionStatus | None = None
    if previous is not None:
        message += f"; reverted to version {previous.version}"
        restored = ProductionStatus(
            version=previous.version,
            digest=previous.digest,
            artifact=previous.artifact,
            service=subject.name,
            ready_replicas=0,
            promoted_at=draft.now,
        )
        body = _production_deployment(
            subject, previous.version, previous.digest, previous.artifact, settings, replicas,
            _monitoring(seen),
        )  # fmt: skip
        draft.apply(APPS_DEPLOYMENTS, body, seen.production.deployment)
    else:
        message += "; no previous version, production removed"
        draft.delete(APPS_DEPLOYMENTS, subject.name)
    draft.condition("RolledBack", True, "ProgressDeadlineExceeded", message)
    draft.record("RolledBack", failed.version, failed.digest, message)
    draft.event("RolledBack", message, warning=True)
    return restored


def _production_deployment(
    subject: Subject,
    version: int,
    digest: str,
    artifact: str | None,
    settings: OperatorSettings,
    replicas: int | None,
    monitoring: MonitoringSpec | None = None,
) -> dict[str, Any]:
    """The production apps/v1 Deployment; without `replicas` (an HPA owns it) none is written."""
    mdep = subject.mdep
    assert mdep is not None
    spec = mdep.spec.production
    body = build_stage_deployment(
        subject.body,
        "production",
        version,
        digest,
        replicas or 1,
        spec.resources,
        settings,
        artifact=artifact,
        monitoring=monitoring,
    )
    if replicas is None:
        del body["spec"]["replicas"]
    return body


def auto_approve(
    draft: Draft, subject: Subject, model: ModelView, production: ProductionStatus
) -> None:
    """Record an automatic approval when the autoApprove rule holds; spec stays the user's."""
    mdep = subject.mdep
    assert mdep is not None
    policy, test, status = mdep.spec.auto_approve, draft.status.test, draft.status
    if policy is None or not policy.enabled or test is None or not test.passed:
        return
    version, digest = test.version, test.digest
    if version is None or digest is None:
        return
    recorded = status.auto_approval
    if recorded is not None and (recorded.version, recorded.digest) == (version, digest):
        return
    metric = policy.metric or PRIMARY_METRIC[model.task]
    rule = auto_approval_rule(metric, version, production, model.status.versions)
    if rule is None:
        return
    failed = status.failed_rollout
    if failed is not None and (failed.version, failed.digest) == (version, digest):
        return  # it already failed in production once; only a person may try again
    status.auto_approval = AutoApproval(version=version, digest=digest, rule=rule, at=draft.now)
    draft.record("AutoApproved", version, digest, rule)
    draft.event("AutoApproved", f"version {version}: {rule}")


def _monitoring(seen: Observation) -> MonitoringSpec | None:
    """The Model's monitoring section, which every serving pod of it carries."""
    return seen.model.monitoring if seen.model is not None else None
