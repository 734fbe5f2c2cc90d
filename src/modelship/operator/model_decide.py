"""When a Model needs a TrainingJob, and what its status says, decided without I/O.

The decision is level-triggered and idempotent: it compares the Model (generation, retrain
annotation, `status.retraining`) with the TrainingJobs that exist, so deciding twice, or after a
crash, gives the same answer. Requests that arrive while a TrainingJob runs are left
unacknowledged (`observedGeneration` stays behind) and picked up when it finishes: queued, never
lost. Automatic triggers (drift, schedule, dataset change) are weighed by `retraining.plan`; every
automatic decision lands in `status.retraining`, and an Event is posted only when it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from modelship.api.v1alpha1 import (
    Model,
    ModelSpec,
    ModelStatus,
    RetrainingStatus,
    TrainingJobStatus,
    Trigger,
)
from modelship.operator.conditions import set_condition
from modelship.operator.model_observation import ModelMeta, ModelObservation, ObservedTrainingJob
from modelship.operator.model_summary import summarise
from modelship.operator.naming import RETRAIN_ANNOTATION
from modelship.operator.retraining import TrainingRequest, has_policy, plan, record_training
from modelship.operator.retraining_signals import fmt, next_dataset_state
from modelship.operator.training_builders import training_job_name

RETRAINING_CONDITION = "RetrainingPolicyValid"


@dataclass(frozen=True)
class EnsureCatalogClaim:
    """The namespace's catalog volume must exist before anything trains into it."""


@dataclass(frozen=True)
class CreateTrainingJob:
    """Create the TrainingJob for this cause (found instead if it exists); `announce`: post
    TrainingRequested when it was created now (automatic ones are announced by their decision)."""

    trigger: Trigger
    reason: str
    key: str
    announce: bool


@dataclass(frozen=True)
class DeleteTrainingJob:
    """A finished TrainingJob beyond the history limit."""

    name: str


@dataclass(frozen=True)
class PostEvent:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


Action = EnsureCatalogClaim | CreateTrainingJob | DeleteTrainingJob | PostEvent


@dataclass(frozen=True)
class ModelDecision:
    status: ModelStatus
    actions: list[Action] = field(default_factory=list)


def training_requests(
    meta: ModelMeta, spec: ModelSpec, status: ModelStatus, tjs: list[ObservedTrainingJob]
) -> list[TrainingRequest]:
    """What asks for a new TrainingJob right now: a new generation, the retrain annotation."""
    generation = meta.generation
    requests: list[TrainingRequest] = []
    if status.observed_generation != generation:
        newest = max(tjs, key=lambda t: t.model_generation, default=None)
        if newest is None:
            requests.append(
                TrainingRequest("spec-change", str(generation), "first version of the model")
            )
        elif (
            spec.retraining.on_spec_change
            and newest.model_generation < generation
            and (newest.snapshot.to_wire() if newest.snapshot else None)
            != spec.snapshot().to_wire()
        ):
            requests.append(
                TrainingRequest(
                    "spec-change",
                    str(generation),
                    f"training spec changed (generation {generation})",
                )
            )
    annotation = meta.retrain_annotation
    if annotation and annotation != status.retrain_annotation:
        requests.append(TrainingRequest("manual", annotation, f"{RETRAIN_ANNOTATION}={annotation}"))
    return requests


def decide_invalid(old: ModelStatus, generation: int, message: str, now: datetime) -> ModelDecision:
    """A spec the operator cannot use: say so on Ready (and in an Event, once)."""
    status = old.model_copy(deep=True, update={"observed_generation": generation})
    status.phase = "Failed"
    status.conditions = set_condition(
        old.conditions, "Ready", False, "InvalidSpec", message, generation, fmt(now)
    )
    changed = status.to_wire() != old.to_wire()
    return ModelDecision(status, [PostEvent("Warning", "InvalidSpec", message)] if changed else [])


class _Pass:
    """One decision in the making: the status so far, the actions, what exists after them."""

    def __init__(
        self, model: Model, meta: ModelMeta, observed: ModelObservation, now: datetime
    ) -> None:
        self.spec, self.meta, self.now = model.spec, meta, now
        self.old = model.status
        self.status = model.status.model_copy(deep=True)
        self.tjs = list(observed.training_jobs)
        self.active = [t for t in self.tjs if t.active]
        self.actions: list[Action] = [EnsureCatalogClaim()]

    def train(self, request: TrainingRequest, reason: str, announce: bool) -> bool:
        """Ask for the request's TrainingJob; True when it does not exist yet (created now)."""
        name = training_job_name(self.meta.name, request.trigger, request.key)
        self.actions.append(CreateTrainingJob(request.trigger, reason, request.key, announce))
        existing = next((t for t in self.tjs if t.name == name), None)
        created = existing is None
        if existing is None:
            existing = ObservedTrainingJob(
                name,
                fmt(self.now),
                request.trigger,
                self.meta.generation,
                self.spec.snapshot(),
                TrainingJobStatus(),
            )
            self.tjs.append(existing)
            self.status.last_training_time = fmt(self.now)
        self.active = [existing]
        return created


def decide(
    model: Model,
    meta: ModelMeta,
    observed: ModelObservation,
    now: datetime,
    versions_in_status: int,
) -> ModelDecision:
    """The Model's next status and the TrainingJobs to create or prune (pure)."""
    step = _Pass(model, meta, observed, now)
    status, generation = step.status, meta.generation
    requests = training_requests(meta, model.spec, model.status, step.tjs)
    trained_now = False
    if requests and step.active:
        status.pending_trigger = requests[0].trigger
    elif requests:
        first = requests[0]
        key = first.key if first.trigger != "spec-change" else str(generation)
        reason = "; ".join(r.reason for r in requests)
        trained_now = step.train(TrainingRequest(first.trigger, key, first.reason), reason, True)
        status.observed_generation = generation
        if meta.retrain_annotation:
            status.retrain_annotation = meta.retrain_annotation
        status.pending_trigger = None
    else:
        status.observed_generation, status.pending_trigger = generation, None

    if has_policy(model.spec.retraining):
        _automatic(step, observed, trained_now)
    else:
        status.retraining = None
        status.conditions = [c for c in status.conditions if c.type != RETRAINING_CONDITION]

    summarise(status, step.old, step.tjs, step.active, versions_in_status, generation, fmt(now))
    old_latest = step.old.latest_version.version if step.old.latest_version else None
    latest = status.latest_version
    if latest is not None and latest.version != old_latest:
        message = f"version {latest.version} ({latest.score or ''}) passed gates"
        step.actions.append(PostEvent("Normal", "VersionAvailable", message))
    step.actions.extend(_prune(step.tjs, step.active, model.spec.retraining.history_limit))
    return ModelDecision(status, step.actions)


def _automatic(step: _Pass, observed: ModelObservation, trained_now: bool) -> None:
    """Drift, schedule and dataset change: decide, ask for at most one TrainingJob, say why."""
    spec, status, now = step.spec, step.status, step.now
    previous = status.retraining.model_copy(deep=True) if status.retraining else None
    dataset = None
    if spec.retraining.on_dataset_change:
        known = previous.dataset if previous else None
        dataset = next_dataset_state(known, spec.dataset.uri, observed.dataset_probe, now)
        if trained_now and dataset.validator:
            dataset.trained_validator = dataset.validator
    running = step.active[0].name if step.active else None
    before = previous or RetrainingStatus()
    decision, state = plan(
        step.meta.name, spec, before, step.tjs, running, observed.deployments, dataset, now
    )
    request = decision.request
    if request is not None:
        name = training_job_name(step.meta.name, request.trigger, request.key)
        found = next((t for t in step.tjs if t.name == name), None)
        created_at = found.created if found is not None and found.created else fmt(now)
        step.train(request, request.reason, announce=False)
        state = record_training(state, request, name, created_at, spec.retraining)
        if state.dataset is not None and state.dataset.validator:
            state.dataset.trained_validator = state.dataset.validator
        state.message = f"{name}: {decision.message}"
    status.retraining = state
    if decision.problems:
        status.conditions = set_condition(
            status.conditions,
            RETRAINING_CONDITION,
            False,
            "InvalidSchedule",
            "; ".join(decision.problems),
            now=fmt(now),
        )
    else:
        status.conditions = set_condition(
            status.conditions,
            RETRAINING_CONDITION,
            True,
            "PolicyValid",
            _policy_summary(spec),
            now=fmt(now),
        )
    if (decision.decision, decision.reason, decision.trigger) != (
        before.decision,
        before.reason,
        before.trigger,
    ):
        kind: Literal["Normal", "Warning"] = (
            "Warning" if decision.decision == "Invalid" else "Normal"
        )
        step.actions.append(
            PostEvent(kind, f"Retraining{decision.decision}", (state.message or "")[:1000])
        )


def _policy_summary(spec: ModelSpec) -> str:
    policy = spec.retraining
    parts = []
    if policy.drift is not None:
        parts.append(f"drift above {policy.drift.threshold:g} ({policy.drift.aggregate} PSI)")
    if policy.schedule:
        parts.append(f"schedule {policy.schedule}")
    if policy.on_dataset_change:
        parts.append("dataset change")
    return (
        f"retrains on {', '.join(parts)}; cooldown {policy.cooldown_seconds}s, "
        f"at most {policy.max_per_day} a day"
    )


def _prune(
    tjs: list[ObservedTrainingJob], active: list[ObservedTrainingJob], limit: int
) -> list[Action]:
    """Finished TrainingJobs beyond the history limit, oldest first."""
    active_names = {t.name for t in active}
    finished = sorted(
        (t for t in tjs if t.name not in active_names and not t.active), key=lambda t: t.created
    )
    return [DeleteTrainingJob(t.name) for t in finished[: max(0, len(finished) - limit)]]
