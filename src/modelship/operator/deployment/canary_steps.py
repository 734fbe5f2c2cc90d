"""The canary step machine: from where a rollout is to where it goes next, without any I/O.

The caller observes (is the canary ready at its weight, was a promote requested, what did the
window that just closed show) and applies (weights, scaling, status). Keeping the machine pure
lets every path — a pause that times out, an inconclusive window, a failure mid-way, an operator
restart between two steps — be tested without a cluster. Timestamps are RFC 3339 strings, as
in status, so the machine resumes from status alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from modelship.api.v1alpha1.base import parse_rfc3339, rfc3339
from modelship.api.v1alpha1.progressive import (
    AnalysisResult,
    CanaryStatus,
    RolloutStep,
    duration_seconds,
)

KEPT_ANALYSES = 20
"""Analysis verdicts kept in status (latest last); older ones are in the history and Events."""

Phase = Literal["Progressing", "Waiting", "Completed", "Aborted"]


@dataclass(frozen=True)
class StepDecision:
    """What the rollout does now. `wake_in` is when something is next due, in seconds."""

    canary: CanaryStatus
    phase: Phase
    wake_in: float | None = None
    failure: AnalysisResult | None = None


def window_closed(steps: list[RolloutStep], canary: CanaryStatus, now: datetime) -> bool:
    """Whether the current step is an analysis whose window has ended (the caller judges it)."""
    if canary.step >= len(steps) or canary.step_started_at is None:
        return False
    analysis = steps[canary.step].analysis
    if analysis is None:
        return False
    return _elapsed(canary.step_started_at, now) >= analysis.interval_seconds


def advance(
    steps: list[RolloutStep],
    canary: CanaryStatus,
    now: datetime,
    *,
    ready: bool,
    promote: bool = False,
    verdict: AnalysisResult | None = None,
    awaiting: str = "",
) -> StepDecision:
    """Take every step that can be taken now; stop at the first that has to wait.

    `awaiting` says what a canary that is not `ready` waits for, when the caller knows better
    than "its pods" (the Gateway accepting a route, the Service selecting both pod sets)."""
    state = canary.model_copy(deep=True)
    stamp = _stamp(now)
    if state.step_started_at is None:
        state.step_started_at = stamp
    while state.step < len(steps):
        step = steps[state.step]
        if step.set_weight is not None:
            if state.weight != step.set_weight:
                state.weight = step.set_weight
                state.waiting_for = f"canary at {state.weight}% becoming ready"
                return StepDecision(state, "Progressing", wake_in=1.0)
            if not ready:
                state.waiting_for = awaiting or f"canary pods not ready at {state.weight}%"
                return StepDecision(state, "Waiting", wake_in=5.0)
        elif step.pause is not None:
            if step.pause.duration is None:
                if not promote:
                    state.waiting_for = f"paused at {state.weight}%: run `modelship promote`"
                    return StepDecision(state, "Waiting")
            else:
                left = duration_seconds(step.pause.duration) - _elapsed(state.step_started_at, now)
                if left > 0 and not promote:
                    state.waiting_for = f"paused at {state.weight}% for {left:.0f} s more"
                    return StepDecision(state, "Waiting", wake_in=left)
        elif step.analysis is not None:
            left = step.analysis.interval_seconds - _elapsed(state.step_started_at, now)
            if left > 0:
                if not state.waiting_for.startswith("inconclusive"):
                    state.waiting_for = f"analysing {state.weight}% of traffic: {left:.0f} s left"
                return StepDecision(state, "Waiting", wake_in=left)
            if verdict is None:
                state.waiting_for = "analysis window closed; reading the pods' metrics"
                return StepDecision(state, "Waiting", wake_in=1.0)
            state.analyses = [*state.analyses, verdict][-KEPT_ANALYSES:]
            state.step_started_at = stamp  # the next window starts now, whatever this one showed
            if verdict.outcome == "Failed":
                state.waiting_for = ""
                return StepDecision(state, "Aborted", failure=verdict)
            if verdict.outcome == "Inconclusive":
                state.waiting_for = f"inconclusive: {verdict.message}"
                return StepDecision(state, "Waiting", wake_in=float(step.analysis.interval_seconds))
            state.passed_windows += 1
            if state.passed_windows < step.analysis.count:
                state.waiting_for = (
                    f"analysis {state.passed_windows}/{step.analysis.count} passed; next window"
                )
                return StepDecision(state, "Waiting", wake_in=float(step.analysis.interval_seconds))
            verdict = None  # consumed: a later analysis step needs a window of its own
        _next_step(state, stamp)
        promote = False  # a promote releases one pause, not every pause after it
    state.weight = 100
    state.waiting_for = ""
    return StepDecision(state, "Completed")


def _next_step(state: CanaryStatus, stamp: str) -> None:
    state.step += 1
    state.step_started_at = stamp
    state.passed_windows = 0
    state.waiting_for = ""


def _elapsed(since: str, now: datetime) -> float:
    return (now - parse_rfc3339(since)).total_seconds()


def _stamp(now: datetime) -> str:
    return rfc3339(now)
