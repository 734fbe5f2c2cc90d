"""How many production pods to ask for: the windows' recommendation within bounds, floors, holds.

Pure. The windows (operator/autoscale.py) say what the load wants; this module decides what the
production Deployment gets and why, in this order:

- a rollout step in progress (a promotion not yet complete, old pods still present, a canary
  running) holds the replica count where it is: scaling in the middle of a surge or a canary
  would change what the step is judged on;
- bounds: never above maxReplicas, never below minReplicas, and never below 2 while production
  has a PodDisruptionBudget (maxUnavailable 1 over a single pod would leave a drain nothing);
- a scale-down waits until the stable window is covered after a (re)start, and shrinks by at
  most half at a time (Knative's max scale-down rate); it does not wait for unready pods: the
  ReplicaSet removes those first, so the ready ones are kept (waiting would pin production high
  behind a pod that never starts);
- in panic it never scales down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelship.api.v1alpha1.autoscaling import Autoscaling, AutoscalingStatus
from modelship.operator.deployment.autoscale import Recommendation

PDB_MIN_PODS = 2
MAX_SCALE_DOWN_RATE = 2.0


@dataclass(frozen=True)
class Current:
    """The production Deployment as observed: its replica count, and whether it may change."""

    replicas: int | None  # None: not created yet
    hold: str | None  # why a rollout step forbids scaling now, or None


def floor(spec: Autoscaling) -> int:
    return max(spec.min_replicas, PDB_MIN_PODS if keeps_pdb(spec) else 1)


def keeps_pdb(spec: Autoscaling) -> bool:
    """Whether autoscaled production keeps its PodDisruptionBudget (from minReplicas 2)."""
    return spec.min_replicas >= PDB_MIN_PODS


def clamp(replicas: int, spec: Autoscaling) -> int:
    return min(spec.max_replicas, max(floor(spec), replicas))


def scale(
    spec: Autoscaling,
    start: int,
    rec: Recommendation | None,
    current: Current,
    previous: AutoscalingStatus | None,
    now: str,
) -> AutoscalingStatus:
    """The replicas production gets (`desired_replicas`) and the reason, as status."""
    last = previous.last_scale_time if previous is not None else None
    figures = _figures(rec)
    if current.replicas is None:
        desired = clamp(start, spec)
        return AutoscalingStatus(
            mode="operator", desired_replicas=desired, last_scale_time=now, decided_at=now,
            reason=f"production starts with {desired} (spec.production.replicas within bounds)",
            **figures,
        )  # fmt: skip
    have = current.replicas
    if current.hold is not None:
        desired, reason = have, f"held at {have}: {current.hold}"
    elif rec is None:
        desired = clamp(have, spec)
        reason = f"{desired}: no reading of the in-flight gauge yet"
    else:
        desired, reason = _follow(spec, rec, current)
    if desired != have:
        last = now
    return AutoscalingStatus(
        mode="operator", desired_replicas=desired, reason=reason, last_scale_time=last,
        decided_at=now, **figures,
    )  # fmt: skip


def _follow(spec: Autoscaling, rec: Recommendation, current: Current) -> tuple[int, str]:
    have = current.replicas
    assert have is not None
    window = "panic" if rec.panic else "stable"
    load = rec.panic_concurrency if rec.panic else rec.stable_concurrency
    why = f"{window} window: {load:g} in flight / target {spec.target_concurrency:g}"
    target = clamp(rec.replicas, spec)
    if target != rec.replicas:
        why += f" wants {rec.replicas}, bounded to [{floor(spec)}, {spec.max_replicas}]"
    if target >= have:
        return target, f"{target}: {why}"
    if rec.panic:
        return have, f"{have}: panicking, never scaling down ({why})"
    if not rec.window_full:
        return have, f"{have}: scale-down waits for a full stable window of readings ({why})"
    limited = max(target, math.ceil(have / MAX_SCALE_DOWN_RATE))
    if limited != target:
        return limited, f"{limited}: at most halving per step, towards {target} ({why})"
    return target, f"{target}: {why}"


def _figures(rec: Recommendation | None) -> dict[str, object]:
    if rec is None:
        return {}
    return {
        "recommended_replicas": rec.replicas,
        "stable_concurrency": rec.stable_concurrency,
        "panic_concurrency": rec.panic_concurrency,
        "panic": rec.panic,
        "samples": rec.samples,
        "pods_read": rec.pods_read,
        "error": rec.error,
    }
