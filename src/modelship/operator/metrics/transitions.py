"""What happened between two statuses, as metrics count it: pure functions, unit-tested.

The controllers already record every transition as typed status (a phase, a history entry with
its event and time, the retraining decision and its reason); metrics are read from the old and new
status at the point where the new one is applied, never by parsing messages. The same history
entry is never counted twice: only entries that the new status adds are looked at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import get_args

from modelship.api.v1alpha1 import (
    DeploymentPhase,
    DeploymentStatus,
    HistoryEntry,
    ModelStatus,
    TrainingJobStatus,
)
from modelship.api.v1alpha1.base import parse_rfc3339
from modelship.operator.kube.conditions import get_condition

PHASES: tuple[str, ...] = get_args(DeploymentPhase)
TERMINAL = ("Succeeded", "Failed")


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from one RFC 3339 time to another, None when either is missing."""
    if not start or not end:
        return None
    begun = parse_rfc3339(start)
    ended = parse_rfc3339(end)
    return max(0.0, (ended - begun).total_seconds())


def timestamp(moment: str) -> float:
    return parse_rfc3339(moment).timestamp()


def finished_training(
    old: TrainingJobStatus, new: TrainingJobStatus
) -> tuple[str, float | None] | None:
    """(outcome, seconds) when this write ends the run: Succeeded, GatesFailed or Failed."""
    if old.phase in TERMINAL or new.phase not in TERMINAL:
        return None
    outcome = str(new.phase)
    gates = get_condition(new.conditions, "GatesPassed")
    if new.phase == "Succeeded" and gates is not None and gates.status == "False":
        outcome = "GatesFailed"
    return outcome, seconds_between(new.start_time, new.completion_time)


def published_version(old: TrainingJobStatus, new: TrainingJobStatus) -> int | None:
    """The version this write records as published, if it is the first to record it."""
    if new.version is not None and old.version is None:
        return new.version
    return None


def retraining_decision(old: ModelStatus, new: ModelStatus) -> tuple[str, str, str] | None:
    """(decision, trigger, reason) when the automatic retraining decision changed."""
    after = new.retraining
    if after is None or after.decision is None:
        return None
    before = old.retraining
    key = (after.decision, after.trigger or "", after.reason or "")
    if before is not None and (before.decision, before.trigger or "", before.reason or "") == key:
        return None
    return key


@dataclass
class DeploymentTransitions:
    """What one Deployment status write did, in the units metrics want."""

    approval_waits: list[float] = field(default_factory=list)
    promotions: list[float] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    rollbacks: list[str] = field(default_factory=list)


def added_history(old: DeploymentStatus, new: DeploymentStatus) -> list[HistoryEntry]:
    """Entries the new status adds (history is newest first and only ever grows at the front)."""
    if not old.history:
        return list(new.history)
    for index, entry in enumerate(new.history):
        if entry == old.history[0]:
            return list(new.history[:index])
    return list(new.history)  # the old head fell off the capped list: all of it is new


def deployment_transitions(old: DeploymentStatus, new: DeploymentStatus) -> DeploymentTransitions:
    seen = DeploymentTransitions()
    for entry in reversed(added_history(old, new)):
        if entry.event == "Promoting":
            tested = _latest(new.history, "TestPassed", entry)
            wait = seconds_between(tested.at if tested else None, entry.at)
            if wait is not None:
                seen.approval_waits.append(wait)
        elif entry.event == "Promoted":
            started = _latest(new.history, "Promoting", entry)
            took = seconds_between(started.at if started else None, entry.at)
            if took is not None:
                seen.promotions.append(took)
        elif entry.event in ("TestPassed", "TestFailed"):
            seen.tests.append("passed" if entry.event == "TestPassed" else "failed")
        elif entry.event == "RolledBack":
            rolled = get_condition(new.conditions, "RolledBack")
            seen.rollbacks.append(rolled.reason if rolled and rolled.reason else "Unknown")
    return seen


def _latest(history: list[HistoryEntry], event: str, before: HistoryEntry) -> HistoryEntry | None:
    """The newest `event` entry of the same version and digest recorded before `before`."""
    start = next((i for i, entry in enumerate(history) if entry is before), len(history))
    for entry in history[start + 1 :]:
        if entry.event == event and (entry.version, entry.digest) == (
            before.version,
            before.digest,
        ):
            return entry
    return None


def awaiting_approval_since(status: DeploymentStatus) -> float | None:
    """When the version now awaiting approval passed its tests (Unix time), if one waits."""
    test = status.test
    if status.phase != "AwaitingApproval" or test is None or test.version is None:
        return None
    for entry in status.history:
        if entry.event == "TestPassed" and entry.version == test.version:
            return timestamp(entry.at)
    return None
