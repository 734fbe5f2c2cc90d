"""Whether an object reached a goal, can still reach it, or never will: pure, from its status.

Only status that describes the object's current spec counts: `status.observedGeneration` must
equal `metadata.generation` (a status written for the previous spec says nothing about this one),
and a named version must be the one the status talks about. `kubectl wait` has the same rule for
conditions carrying `observedGeneration`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from modelship.api.v1alpha1 import (
    AcceptanceReport,
    BatchPredictionStatus,
    DeploymentStatus,
    ModelStatus,
    TrainingJobStatus,
)

Obj = dict[str, Any]


class Kind(Enum):
    """The kinds `modelship wait` knows, with the goals each can reach."""

    DEPLOYMENT = ("deployments", ("AwaitingApproval", "Serving"))
    MODEL = ("models", ("Trained",))
    TRAINING_JOB = ("trainingjobs", ("Succeeded",))
    BATCH_PREDICTION = ("batchpredictions", ("Succeeded",))

    @property
    def plural(self) -> str:
        return str(self.value[0])

    @property
    def goals(self) -> tuple[str, ...]:
        return tuple(self.value[1])


# What users type before the slash, as kubectl accepts them.
KIND_NAMES = {
    "deployment": Kind.DEPLOYMENT,
    "deployments": Kind.DEPLOYMENT,
    "mdep": Kind.DEPLOYMENT,
    "model": Kind.MODEL,
    "models": Kind.MODEL,
    "mdl": Kind.MODEL,
    "trainingjob": Kind.TRAINING_JOB,
    "trainingjobs": Kind.TRAINING_JOB,
    "tj": Kind.TRAINING_JOB,
    "batchprediction": Kind.BATCH_PREDICTION,
    "batchpredictions": Kind.BATCH_PREDICTION,
    "bp": Kind.BATCH_PREDICTION,
}


class State(Enum):
    REACHED = "reached"
    WAITING = "waiting"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Verdict:
    state: State
    message: str
    report: AcceptanceReport | None = None
    version: int | None = None


def judge(kind: Kind, goal: str, version: int | None, body: Obj) -> Verdict:
    """The verdict on `body` (as the API server returns it) for `goal` and `version`."""
    generation = (body.get("metadata") or {}).get("generation")
    raw = body.get("status") or {}
    if raw.get("observedGeneration") != generation:
        seen = raw.get("observedGeneration")
        return Verdict(State.WAITING, f"status is for generation {seen}, spec is {generation}")
    if kind is Kind.DEPLOYMENT:
        return _deployment(goal, version, DeploymentStatus.model_validate(raw))
    if kind is Kind.MODEL:
        return _model(version, ModelStatus.model_validate(raw))
    if kind is Kind.BATCH_PREDICTION:
        return _batch_prediction(version, BatchPredictionStatus.model_validate(raw))
    return _training_job(version, TrainingJobStatus.model_validate(raw))


def _deployment(goal: str, version: int | None, status: DeploymentStatus) -> Verdict:
    test, production, failed = status.test, status.production, status.failed_rollout
    report = test.report if test is not None else None
    tested = test.version if test is not None else None
    if version is not None and test is not None and tested != version:
        # The named version is not (or no longer) at the test stage: only production may say
        # more about it, and only for the Serving goal.
        in_production = production is not None and production.version == version
        if not (goal == "Serving" and in_production):
            return Verdict(State.WAITING, f"version {tested} is at the test stage, not {version}")
    wanted = version if version is not None else tested
    if test is not None and test.version == wanted and test.passed is False:
        condition = next((c for c in status.conditions if c.type == "TestPassed"), None)
        why = condition.message if condition is not None else "acceptance failed"
        return Verdict(
            State.UNREACHABLE, f"version {wanted} failed its tests: {why}", report, wanted
        )
    if status.phase == "Failed" and (test is None or test.passed is None):
        condition = next((c for c in status.conditions if c.type == "TestPassed"), None)
        why = condition.message if condition is not None else "the Deployment failed"
        return Verdict(State.UNREACHABLE, why, report, wanted)
    if goal == "AwaitingApproval":
        if test is not None and test.version == wanted and test.passed:
            return Verdict(State.REACHED, f"version {wanted} passed its tests", report, wanted)
        return Verdict(State.WAITING, f"phase {status.phase}", report, wanted)
    if failed is not None and (version is None or failed.version == version):
        return Verdict(
            State.UNREACHABLE,
            f"version {failed.version} was rolled back: {failed.reason}",
            report,
            failed.version,
        )
    serving = production.version if production is not None else None
    if (
        production is not None
        and production.promoted_at
        and status.phase == "Serving"
        and (version is None or serving == version)
    ):
        return Verdict(State.REACHED, f"version {serving} serves production", report, serving)
    return Verdict(State.WAITING, f"phase {status.phase}", report, wanted)


def _model(version: int | None, status: ModelStatus) -> Verdict:
    if version is not None:
        for entry in status.versions:
            if entry.version == version and entry.passed_gates is False:
                return Verdict(State.UNREACHABLE, f"version {version} failed its gates")
            if entry.version == version and entry.passed_gates:
                return Verdict(State.REACHED, f"version {version} passed its gates", None, version)
    trained = next((c for c in status.conditions if c.type == "Trained"), None)
    if trained is None:
        return Verdict(State.WAITING, "not trained yet")
    # A training still running (or queued) for this generation decides; the condition may still
    # speak of the version before it.
    idle = status.active_training_job is None and status.pending_trigger is None
    if trained.status == "False" and idle and version is None:
        return Verdict(State.UNREACHABLE, f"{trained.reason}: {trained.message}")
    if trained.status == "True" and version is None and idle:
        latest = status.latest_version.version if status.latest_version else None
        return Verdict(State.REACHED, trained.message, None, latest)
    return Verdict(State.WAITING, f"{trained.reason}: {trained.message}")


def _training_job(version: int | None, status: TrainingJobStatus) -> Verdict:
    if status.phase == "Failed":
        why = status.failure.message if status.failure is not None else ""
        return Verdict(State.UNREACHABLE, f"training failed: {why}")
    if status.phase != "Succeeded":
        return Verdict(State.WAITING, f"phase {status.phase}")
    if version is not None and status.version != version:
        return Verdict(State.UNREACHABLE, f"it produced version {status.version}, not {version}")
    failed = [g for g in status.gates if not g.passed]
    if failed:
        detail = "; ".join(f"{g.metric} {g.value} is not {g.bound}" for g in failed)
        return Verdict(State.UNREACHABLE, f"version {status.version} failed its gates: {detail}")
    return Verdict(State.REACHED, f"version {status.version} published", None, status.version)


def _batch_prediction(version: int | None, status: BatchPredictionStatus) -> Verdict:
    pinned = status.resolved.version if status.resolved is not None else None
    if status.phase == "Failed":
        why = f"{status.failure.reason}: {status.failure.message}" if status.failure else ""
        return Verdict(State.UNREACHABLE, f"the run failed: {why}", None, pinned)
    if version is not None and pinned is not None and pinned != version:
        return Verdict(State.UNREACHABLE, f"it is pinned to version {pinned}, not {version}")
    if status.phase != "Succeeded" or status.output is None:
        return Verdict(State.WAITING, f"phase {status.phase}", None, pinned)
    output = status.output
    return Verdict(
        State.REACHED,
        f"version {pinned} scored {output.rows} rows ({output.error_rows} unscorable): "
        f"{output.ref} ({output.digest})",
        None,
        pinned,
    )
