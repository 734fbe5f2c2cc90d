"""Automatic retraining: when drift, a performance decay, a schedule or a changed dataset asks
for a TrainingJob.

Everything here is pure: the Model controller gathers what it observed (its TrainingJobs, the
drift its production Deployments recorded, the dataset's validator) and `plan` turns that and the
previous `status.retraining` into a decision and the next `status.retraining`: each trigger
(`triggers.py`) says what it asks for, and `plan` weighs the first request against the
guardrails. The state that must survive restarts lives in that status:

- `handled`: per trigger, the key of the last request acted on. Keys name the cause (a drift
  episode of a production version, a schedule slot, a dataset validator), so the same cause never
  trains twice, even after its TrainingJob was pruned by the history limit.
- `recent` and `lastAutomaticAt`: automatic trainings of the last 24 hours, merged with the
  TrainingJobs that exist, so neither a restart nor pruning resets the cooldown or the daily cap.
- `drift`: the drift episode. An episode opens when production drift of a version goes above the
  threshold and closes only when enough rows show it below again, so a steady drift is one
  retraining, not one per reading; flapping around the threshold is what cooldown and cap are for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from modelship.api.v1alpha1 import (
    AutomaticRun,
    DatasetState,
    ModelSpec,
    RetrainingSpec,
    RetrainingStatus,
    Trigger,
)
from modelship.operator.model import triggers
from modelship.operator.model.guardrails import automatic_runs, check_guardrails
from modelship.operator.model.observation import ObservedTrainingJob, ServingDeployment
from modelship.operator.model.signals import fmt, next_dataset_state, parse_schedule, parse_time
from modelship.operator.model.triggers import Findings, TrainingRequest

__all__ = [
    "Decision",
    "automatic_runs",
    "check_guardrails",
    "fmt",
    "has_policy",
    "next_dataset_state",
    "parse_schedule",
    "plan",
    "record_training",
]


# -- the decision -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    decision: Literal["Retrain", "Deferred", "NotNeeded", "Invalid"]
    reason: str
    message: str
    trigger: Trigger | None = None
    request: TrainingRequest | None = None
    problems: tuple[str, ...] = ()


def plan(
    model: str,
    spec: ModelSpec,
    previous: RetrainingStatus,
    tjs: list[ObservedTrainingJob],
    active: str | None,
    deployments: list[ServingDeployment],
    dataset: DatasetState | None,
    now: datetime,
) -> tuple[Decision, RetrainingStatus]:
    """The automatic-retraining decision and the next status.retraining (pure)."""
    policy = spec.retraining
    handled = dict(previous.handled)
    runs = automatic_runs(tjs, previous.recent, now)
    state = RetrainingStatus(handled=handled, recent=runs)
    last = [parse_time(r.at) for r in runs]
    if previous.last_automatic_at:
        last.append(parse_time(previous.last_automatic_at))
    last_automatic = max(last, default=None)
    if last_automatic is not None:
        state.last_automatic_at = fmt(last_automatic)

    found = Findings([], [], [])
    triggers.drift(model, spec, previous, handled, deployments, now, state, found)
    triggers.performance(model, spec, handled, deployments, found)
    if policy.on_dataset_change and dataset is not None:
        triggers.dataset(dataset, handled, state, found)
    if policy.schedule:
        triggers.schedule(policy.schedule, previous, handled, now, state, found)

    decision: Decision
    if found.candidates:
        request = found.candidates[0]
        guard = check_guardrails(request.trigger, policy, active, runs, last_automatic, now)
        if guard.allowed:
            decision = Decision(
                "Retrain", _reason(request.trigger), request.reason, request.trigger, request
            )
        else:
            decision = Decision(
                "Deferred",
                guard.reason,
                f"{request.reason}; held back: {guard.message}",
                request.trigger,
            )
    elif found.problems:
        decision = Decision("Invalid", "InvalidSchedule", "; ".join(found.problems))
    else:
        reason = found.notes[0][0] if found.notes else "NothingToDo"
        decision = Decision("NotNeeded", reason, "; ".join(n for _, n in found.notes))
    if found.problems:
        decision = replace(decision, problems=tuple(found.problems))
    # When cooldown or cap would hold back the next automatic training, say until when.
    hold = check_guardrails(decision.trigger or "schedule", policy, None, runs, last_automatic, now)
    if hold.next_eligible_at is not None:
        state.next_eligible_at = fmt(hold.next_eligible_at)
    state.decision, state.reason, state.message = (
        decision.decision,
        decision.reason,
        decision.message,
    )
    state.trigger = decision.trigger
    same = (previous.decision, previous.reason, previous.trigger) == (
        decision.decision,
        decision.reason,
        decision.trigger,
    )
    state.at = previous.at if same and previous.at else fmt(now)
    return decision, state


def _reason(trigger: Trigger) -> str:
    reasons = {
        "drift": "Drift",
        "performance": "PerformanceDecay",
        "schedule": "Scheduled",
        "dataset-change": "DatasetChanged",
    }
    return reasons.get(trigger, "Requested")


def record_training(
    state: RetrainingStatus,
    request: TrainingRequest,
    training_job: str,
    created_at: str,
    policy: RetrainingSpec,
) -> RetrainingStatus:
    """status.retraining once the request's TrainingJob exists (created now, or found)."""
    state = state.model_copy(deep=True)
    state.handled = {**state.handled, request.trigger: request.key}
    runs = [r for r in state.recent if r.training_job != training_job]
    run = AutomaticRun(training_job=training_job, trigger=request.trigger, at=created_at)
    state.recent = sorted([*runs, run], key=lambda r: r.at)
    last = max(created_at, state.last_automatic_at or "")
    state.last_automatic_at = last
    hold = check_guardrails(
        "schedule", policy, None, state.recent, parse_time(last), parse_time(created_at)
    )
    state.next_eligible_at = fmt(hold.next_eligible_at) if hold.next_eligible_at else None
    return state


def has_policy(policy: RetrainingSpec) -> bool:
    return bool(
        policy.drift is not None
        or policy.performance is not None
        or policy.schedule
        or policy.on_dataset_change
    )
