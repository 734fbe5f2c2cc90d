"""Production's replica count and its autoscaling children: fixed, scaled by us, or by an HPA.

Pure, like the rest of the decision. Without `spec.production.autoscaling` production has
`replicas` pods and no HPA. In operator mode the count comes from `scaling.scale` (bounds,
floors, holds), and status.autoscaling says what was decided and why. In hpa mode the operator
applies the HorizontalPodAutoscaler and leaves the count out of the Deployment it writes, so the
two never fight; where the cluster does not serve autoscaling/v2 (Kubernetes before 1.23) there
is no HPA to apply, production keeps its starting count, and the Autoscaling condition says so.
"""

from __future__ import annotations

from modelship.api.v1alpha1 import ProductionStatus
from modelship.api.v1alpha1.autoscaling import Autoscaling, AutoscalingStatus
from modelship.operator.deployment.actions import Draft
from modelship.operator.deployment.builders.hpa import build_hpa
from modelship.operator.deployment.observation import Observation, Subject
from modelship.operator.deployment.rollout import StageRollout
from modelship.operator.deployment.scaling import Current, keeps_pdb, scale
from modelship.operator.kube.resources import HPAS_V2
from modelship.operator.settings import OperatorSettings

RUNNING_CANARY = ("Progressing", "Waiting")


def wants_pdb(subject: Subject) -> bool:
    """Whether production keeps its PodDisruptionBudget (more than one pod, for sure)."""
    assert subject.mdep is not None
    spec = subject.mdep.spec.production
    return spec.replicas > 1 if spec.autoscaling is None else keeps_pdb(spec.autoscaling)


def production_replicas(
    draft: Draft,
    subject: Subject,
    seen: Observation,
    production: ProductionStatus,
    settings: OperatorSettings,
) -> int | None:
    """The replicas to write into the production Deployment; None: the HPA owns the count."""
    assert subject.mdep is not None
    spec = subject.mdep.spec.production
    autoscaling = spec.autoscaling
    hpa_wanted = autoscaling is not None and autoscaling.mode == "hpa"
    if seen.hpa is not None and not hpa_wanted:
        draft.delete(HPAS_V2, subject.name)
    if autoscaling is None:
        draft.status.autoscaling = None
        draft.status.conditions = [c for c in draft.status.conditions if c.type != "Autoscaling"]
        return spec.replicas
    if autoscaling.mode == "hpa":
        return _by_hpa(draft, subject, seen, autoscaling, settings)
    observed = seen.production.deployment
    current = Current(
        replicas=observed.replicas if observed is not None else None,
        hold=rollout_step(draft, production, observed),
    )
    previous, now = draft.status.autoscaling, draft.now
    if previous is not None and previous.mode != "operator":
        previous = None
    status = scale(autoscaling, spec.replicas, seen.autoscale, current, previous, now)
    if previous is not None and status == previous.model_copy(update={"decided_at": now}):
        status.decided_at = previous.decided_at  # nothing new decided: no status write
    draft.status.autoscaling = status
    draft.condition("Autoscaling", True, "Operator", status.reason)
    if current.replicas is not None and status.desired_replicas != current.replicas:
        draft.event("Scaled", f"production {current.replicas} -> {status.desired_replicas} pods")
    return status.desired_replicas


def rollout_step(
    draft: Draft, production: ProductionStatus, observed: StageRollout | None
) -> str | None:
    """Why scaling must wait for a rollout step to end, or None."""
    canary = draft.status.canary
    if canary is not None and canary.state in RUNNING_CANARY:
        return f"canary of version {canary.version} in progress (step {canary.step})"
    if not production.promoted_at:
        return f"version {production.version} is being promoted"
    if observed is not None and observed.old_pods:
        return f"a rollout is replacing {observed.old_pods} pod(s) of an earlier template"
    return None


def _by_hpa(
    draft: Draft,
    subject: Subject,
    seen: Observation,
    autoscaling: Autoscaling,
    settings: OperatorSettings,
) -> int | None:
    hpa = build_hpa(subject.body, autoscaling, settings.autoscale_stable_window_seconds)
    draft.apply(HPAS_V2, hpa, seen.hpa)
    reason = (
        f"HorizontalPodAutoscaler {subject.name} scales production between "
        f"{autoscaling.min_replicas} and {autoscaling.max_replicas} pods on the in-flight gauge "
        "(needs a custom-metrics adapter; `kubectl describe hpa` shows whether it reads it)"
    )
    draft.status.autoscaling = AutoscalingStatus(mode="hpa", reason=reason)
    draft.condition("Autoscaling", True, "HPA", reason)
    return None
