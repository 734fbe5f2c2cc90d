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
from modelship.operator.kube.actions import PostEvent
from modelship.operator.kube.conditions import SUSPENDED, get_condition, set_condition
from modelship.operator.kube.naming import RETRAIN_ANNOTATION
from modelship.operator.model.builders import training_job_name
from modelship.operator.model.observation import ModelMeta, ModelObservation, ObservedTrainingJob
from modelship.operator.model.retraining import has_policy, plan, record_training
from modelship.operator.model.signals import fmt, next_dataset_state
from modelship.operator.model.summary import beyond_history, policy_summary, summarise
from modelship.operator.model.triggers import TrainingRequest

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
    return ModelDecision(status, [PostEvent.warning("InvalidSpec", message)] if changed else [])


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
    if model.spec.suspend:
        return _suspended(step, requests, versions_in_status)
    _resumed(step)
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
        step.actions.append(PostEvent.normal("VersionAvailable", message))
    limit = model.spec.retraining.history_limit
    step.actions.extend(DeleteTrainingJob(n) for n in beyond_history(step.tjs, step.active, limit))
    return ModelDecision(status, step.actions)


def _suspended(
    step: _Pass, requests: list[TrainingRequest], versions_in_status: int
) -> ModelDecision:
    """Observed and reported, but nothing started, pruned or claimed until the resume.

    `observedGeneration` moves on (this generation was seen), while what asked for training is
    left unacknowledged: the resume is itself a new generation, and the retrain annotation is not
    recorded, so both are weighed again then.
    """
    status, generation, now = step.status, step.meta.generation, fmt(step.now)
    status.observed_generation = generation
    # What asked before this pass (a generation now observed) still waits: keep it shown.
    status.pending_trigger = requests[0].trigger if requests else step.old.pending_trigger
    summarise(status, step.old, step.tjs, step.active, versions_in_status, generation, now)
    pending = status.pending_trigger
    queued = f"; a {pending} request waits for the resume" if pending else ""
    message = f"spec.suspend is true: no TrainingJob is started{queued}"
    status.conditions = set_condition(
        status.conditions, SUSPENDED, True, "Suspended", message, generation, now
    )
    actions: list[Action] = []
    was = get_condition(step.old.conditions, SUSPENDED)
    if was is None or was.status != "True":
        actions.append(PostEvent.normal("Suspended", message))
    return ModelDecision(status, actions)


def _resumed(step: _Pass) -> None:
    """A Model that was suspended says so until the next one would: Suspended turns False."""
    was = get_condition(step.old.conditions, SUSPENDED)
    if was is not None and was.status == "True":
        step.status.conditions = set_condition(
            step.status.conditions,
            SUSPENDED,
            False,
            "Resumed",
            "spec.suspend is false",
            step.meta.generation,
            fmt(step.now),
        )
        step.actions.append(PostEvent.normal("Resumed", "spec.suspend is false"))


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
            policy_summary(spec),
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
