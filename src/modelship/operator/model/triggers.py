"""What each automatic-retraining trigger asks for: drift, performance decay, dataset change, a
schedule.

`retraining.plan` asks every enabled trigger in turn; each reads its signal (pure observations the
Model controller gathered), updates its part of the next `status.retraining` (the drift episode,
the dataset and schedule state) and adds to the `Findings`: a `TrainingRequest` when its cause is
new (its key not yet `handled`), else a note saying why not, or a problem with the policy. The
weighing of the requests against the guardrails stays in `retraining.plan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from modelship.api.v1alpha1 import (
    DatasetState,
    ModelSpec,
    RetrainingStatus,
    ScheduleState,
    Trigger,
)
from modelship.operator.model.builders import training_job_name
from modelship.operator.model.decay import drift_gate_policy, observe_decay
from modelship.operator.model.observation import ServingDeployment
from modelship.operator.model.signals import (
    drift_key,
    fmt,
    next_episode,
    observe_drift,
    parse_schedule,
    parse_time,
)


@dataclass(frozen=True)
class TrainingRequest:
    trigger: Trigger
    key: str
    reason: str


@dataclass
class Findings:
    """What the signals said, gathered by `plan` before it weighs them."""

    candidates: list[TrainingRequest]
    notes: list[tuple[str, str]]
    problems: list[str]


def drift(
    model: str,
    spec: ModelSpec,
    previous: RetrainingStatus,
    handled: dict[str, str],
    deployments: list[ServingDeployment],
    now: datetime,
    state: RetrainingStatus,
    found: Findings,
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


def performance(
    model: str,
    spec: ModelSpec,
    handled: dict[str, str],
    deployments: list[ServingDeployment],
    found: Findings,
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


def dataset(
    dataset: DatasetState, handled: dict[str, str], state: RetrainingStatus, found: Findings
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


def schedule(
    expression: str,
    previous: RetrainingStatus,
    handled: dict[str, str],
    now: datetime,
    state: RetrainingStatus,
    found: Findings,
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
