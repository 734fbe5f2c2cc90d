"""Guardrails of automatic retraining: one at a time, a cooldown, a daily cap.

Counted from the TrainingJobs that exist merged with what status remembers (`recent`), so neither
an operator restart nor the history limit's pruning resets them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from modelship.api.v1alpha1 import AutomaticRun, RetrainingSpec, Trigger
from modelship.operator.model.observation import ObservedTrainingJob
from modelship.operator.model.signals import fmt, parse_time

AUTOMATIC: tuple[Trigger, ...] = ("drift", "performance", "dataset-change", "schedule")
DAY = timedelta(days=1)


def automatic_runs(
    tjs: list[ObservedTrainingJob], remembered: list[AutomaticRun], now: datetime
) -> list[AutomaticRun]:
    """Automatic trainings of the last 24 hours, from TrainingJobs and from status, oldest first."""
    runs = {
        r.training_job: r.model_copy()
        for r in remembered
        if r.training_job and r.at and parse_time(r.at) > now - DAY
    }
    for tj in tjs:
        if tj.trigger in AUTOMATIC and tj.created and parse_time(tj.created) > now - DAY:
            runs.setdefault(
                tj.name, AutomaticRun(training_job=tj.name, trigger=tj.trigger, at=tj.created)
            )
    return sorted(runs.values(), key=lambda r: r.at)


@dataclass(frozen=True)
class Guard:
    allowed: bool
    reason: str = ""
    message: str = ""
    next_eligible_at: datetime | None = None


def cooldown_for(trigger: Trigger, policy: RetrainingSpec) -> int:
    if (
        trigger == "drift"
        and policy.drift is not None
        and policy.drift.cooldown_seconds is not None
    ):
        return policy.drift.cooldown_seconds
    performance = policy.performance
    if (
        trigger == "performance"
        and performance is not None
        and performance.cooldown_seconds is not None
    ):
        return performance.cooldown_seconds
    return policy.cooldown_seconds


def check_guardrails(
    trigger: Trigger,
    policy: RetrainingSpec,
    active: str | None,
    runs: list[AutomaticRun],
    last_automatic: datetime | None,
    now: datetime,
) -> Guard:
    """One active TrainingJob, cooldown since the last automatic one, at most maxPerDay a day."""
    if active:
        return Guard(False, "TrainingActive", f"waits for the active TrainingJob {active}")
    holds: list[tuple[datetime, str, str]] = []
    cooldown = cooldown_for(trigger, policy)
    if last_automatic is not None and last_automatic + timedelta(seconds=cooldown) > now:
        until = last_automatic + timedelta(seconds=cooldown)
        holds.append(
            (until, "Cooldown", f"cooldown of {cooldown}s after the last automatic training")
        )
    if len(runs) >= policy.max_per_day:
        until = parse_time(runs[len(runs) - policy.max_per_day].at) + DAY
        holds.append(
            (
                until,
                "DailyCap",
                f"{len(runs)} automatic trainings in the last 24h (maxPerDay {policy.max_per_day})",
            )
        )
    if not holds:
        return Guard(True)
    until, reason, message = max(holds)
    return Guard(False, reason, f"{message}; eligible at {fmt(until)}", until)
