"""Automatic retraining: when drift, a performance decay, a schedule or a changed dataset asks
for a TrainingJob.

Everything here is pure: the Model controller gathers what it observed (its TrainingJobs, the
drift its production Deployments recorded, the dataset's validator) and `plan` turns that and the
previous `status.retraining` into a decision and the next `status.retraining`. The state that must
survive restarts lives in that status:

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
    ScheduleState,
    Trigger,
)
from modelship.operator.model.builders import training_job_name
from modelship.operator.model.decay import drift_gate_policy, observe_decay
from modelship.operator.model.guardrails import automatic_runs, check_guardrails
from modelship.operator.model.observation import ObservedTrainingJob, ServingDeployment
from modelship.operator.model.signals import (
    drift_key,
    fmt,
    next_dataset_state,
    next_episode,
    observe_drift,
    parse_schedule,
    parse_time,
)

__all__ = [
    "Decision",
    "TrainingRequest",
    "automatic_runs",
    "check_guardrails",
    "fmt",
    "has_policy",
    "next_dataset_state",
    "parse_schedule",
    "plan",
    "record_training",
]


@dataclass(frozen=True)
class TrainingRequest:
    trigger: Trigger
    key: str
    reason: str


# -- the decision -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    decision: Literal["Retrain", "Deferred", "NotNeeded", "Invalid"]
    reason: str
    message: str
    trigger: Trigger | None = None
    request: TrainingRequest | None = None
    problems: tuple[str, ...] = ()


@dataclass
class _Findings:
    """What the signals said, gathered by `plan` before it weighs them."""

    candidates: list[TrainingRequest]
    notes: list[tuple[str, str]]
    problems: list[str]


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

    found = _Findings([], [], [])
    _drift(model, spec, previous, handled, deployments, now, state, found)
    _performance(model, spec, handled, deployments, found)
    if policy.on_dataset_change and dataset is not None:
        _dataset(dataset, handled, state, found)
    if policy.schedule:
        _schedule(policy.schedule, previous, handled, now, state, found)

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


def _drift(
    model: str,
    spec: ModelSpec,
    previous: RetrainingStatus,
    handled: dict[str, str],
    deployments: list[ServingDeployment],
    now: datetime,
    state: RetrainingStatus,
    found: _Findings,
) -> None:
    if spec.retraining.drift is None:
        return
    observation = observe_drift(spec.retraining.drift, deployments)
    episode = next_episode(previous.drift, observation, now)
    state.drift = episode
    if observation.state != "drifted":
        found.notes.append((observation.reason, f"drift: {observation.message}"))
        return
    key = drift_key(episode)
    if handled.get("drift") == key:
        found.notes.append(
            (
                "AlreadyRequested",
                f"drift episode {episode.episode} already started "
                f"{training_job_name(model, 'drift', key)} ({observation.message})",
            )
        )
        return
    reason = f"drift: {observation.message}"
    if spec.retraining.drift.require_performance_drop:
        gate = observe_decay(
            drift_gate_policy(spec.retraining.performance, spec.task), deployments, None
        )
        if gate.state != "decayed":
            found.notes.append(
                (
                    "DriftWithoutPerformanceDrop",
                    f"{reason}; not retrained: requirePerformanceDrop and no confirmed drop of "
                    f"production's live metric ({gate.message})",
                )
            )
            return
        reason = f"{reason}; confirmed by a performance drop: {gate.message}"
    found.candidates.append(TrainingRequest("drift", key, reason))


def _performance(
    model: str,
    spec: ModelSpec,
    handled: dict[str, str],
    deployments: list[ServingDeployment],
    found: _Findings,
) -> None:
    """Production's live metric (decay.py): a decay asks for a training once per key."""
    policy = spec.retraining.performance
    if policy is None:
        return
    seen = observe_decay(policy, deployments, handled.get("performance"))
    if seen.state != "decayed" or seen.key is None:
        found.notes.append((seen.reason, f"performance: {seen.message}"))
    elif handled.get("performance") == seen.key:
        name = training_job_name(model, "performance", seen.key)
        found.notes.append(("AlreadyRequested", f"performance: {seen.message}; {name} started"))
    else:
        found.candidates.append(
            TrainingRequest("performance", seen.key, f"performance: {seen.message}")
        )


def _dataset(
    dataset: DatasetState, handled: dict[str, str], state: RetrainingStatus, found: _Findings
) -> None:
    state.dataset = dataset
    validator, trained = dataset.validator, dataset.trained_validator
    if dataset.error:
        found.notes.append(("DatasetUnchecked", f"dataset: {dataset.error}"))
    elif validator and trained and validator != trained:
        if handled.get("dataset-change") != validator:
            found.candidates.append(
                TrainingRequest(
                    "dataset-change",
                    str(validator),
                    f"dataset {dataset.uri} changed ({trained} -> {validator})",
                )
            )
    else:
        found.notes.append(("DatasetUnchanged", f"dataset: unchanged ({validator})"))


def _schedule(
    expression: str,
    previous: RetrainingStatus,
    handled: dict[str, str],
    now: datetime,
    state: RetrainingStatus,
    found: _Findings,
) -> None:
    try:
        schedule = parse_schedule(expression)
    except ValueError as exc:
        found.problems.append(str(exc))
        return
    known = previous.schedule
    since = (
        parse_time(known.since)
        if known is not None and known.expression == schedule.expression and known.since
        else now
    )
    slot = schedule.last_slot(since, now)
    state.schedule = ScheduleState(
        expression=schedule.expression,
        since=fmt(since),
        next_run_at=fmt(schedule.next_slot(since, now)),
    )
    if slot is not None and handled.get("schedule") != fmt(slot):
        found.candidates.append(
            TrainingRequest(
                "schedule", fmt(slot), f"scheduled run of {fmt(slot)} ({schedule.expression})"
            )
        )
    else:
        found.notes.append(("NotDue", f"schedule: next run at {state.schedule.next_run_at}"))


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
