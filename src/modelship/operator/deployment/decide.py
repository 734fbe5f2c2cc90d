"""Decide: from the typed Deployment and what was observed, the new status and the writes (pure).

Nothing here performs I/O or reads the clock: `now` stamps what is recorded, so the same inputs
always give the same decision, and every transition is unit-tested as a table of situations.

`requeue_after` says when to look again without an event: soon while something is in flight (a
rollout, acceptance), rarely once settled or while waiting for a version (the Model's events
bring that). The handlers honour it.
"""

from __future__ import annotations

from modelship.api.v1alpha1 import DeploymentPhase, DeploymentStatus
from modelship.operator.deployment.actions import Decision, Draft
from modelship.operator.deployment.observation import Observation, Subject
from modelship.operator.deployment.performance import decide_evaluation
from modelship.operator.deployment.production import decide_production
from modelship.operator.deployment.test_stage import decide_test_stage
from modelship.operator.deployment.versions import NoVersion, resolve_version
from modelship.operator.kube.conditions import SUSPENDED, get_condition
from modelship.operator.settings import OperatorSettings

ACTIVE_PHASES: tuple[DeploymentPhase, ...] = ("Pending", "Testing", "Promoting")
# Readiness of pods and termination messages do not always reach us as an event on a child we
# watch, so while a phase is in flight the reconcile looks again this soon.
IN_FLIGHT_SECONDS = 3.0
# A settled Deployment (awaiting approval, serving, failed) changes only through events: its
# spec, its Model, its children's status. This rare look is a safety net against a missed event,
# not the way it moves; at 30 s, a few hundred settled objects kept the API server busy for nothing.
# The value marks "settled": the handler looks again after `settled_resync_seconds` (a setting,
# spread by Deployment), each look ~10 reads of the Deployment, its Model and its children.
SETTLED_SECONDS = 600.0
SHADOW_REFRESH_SECONDS = 10.0


def decide(subject: Subject, seen: Observation, now: str, settings: OperatorSettings) -> Decision:
    """The next step of one Deployment."""
    draft = Draft.start(subject.status, subject.generation, now)
    mdep = subject.mdep
    if mdep is None:
        draft.condition("Ready", False, "InvalidSpec", subject.invalid)
        draft.status.phase = "Failed"
        if _changed(subject.status, draft):
            draft.event("InvalidSpec", subject.invalid, warning=True)
        return draft.finish(None)  # only a new spec can help, and it comes as an event
    if mdep.spec.suspend:
        return _suspended(subject, draft)
    _resumed(subject, draft)
    if seen.model is None:
        name = mdep.spec.model_ref.name
        return _wait(subject, draft, "ModelNotFound", f"waiting for Model {name!r}", False)
    target = resolve_version(mdep.spec.version, seen.model.status)
    if isinstance(target, NoVersion):
        return _wait(subject, draft, "VersionUnavailable", target.message, target.reason.final)
    decide_test_stage(draft, subject, seen, target, seen.model.task, settings)
    decide_production(draft, subject, seen, seen.model, settings)
    _summarise(draft.status, draft)
    evaluation = decide_evaluation(draft, subject, seen, settings)
    shadowing = _shadowing(draft.status)
    retiring = _retiring(draft.status, seen, shadowing) or draft.unsettled
    requeue = _requeue(draft.status.phase, shadowing=shadowing, retiring=retiring)
    return draft.finish(requeue if evaluation is None else min(requeue, evaluation))


def _shadowing(status: DeploymentStatus) -> bool:
    return status.test is not None and status.test.shadow is not None


def _retiring(status: DeploymentStatus, seen: Observation, shadowing: bool) -> bool:
    """A completed canary still in status, or progressive children left while nothing
    progressive runs: they go over the next reconciles, which no event may start (production
    is settled by then), so look again soon rather than in ten minutes."""
    canary = status.canary
    if canary is not None and canary.state == "Completed":
        return True
    return seen.canary.exists and not (shadowing and status.phase == "AwaitingApproval")


def _suspended(subject: Subject, draft: Draft) -> Decision:
    """Nothing is rolled out, tested or promoted; what was last observed stays in status.

    Only a new spec (the resume) can change that, so no time-driven look is asked for, and no
    child is read: a suspended Deployment costs nothing until it is resumed.
    """
    message = "spec.suspend is true: nothing is rolled out, tested or promoted"
    draft.condition(SUSPENDED, True, "Suspended", message)
    if draft.status.phase is None:
        draft.status.phase = "Pending"
        draft.condition("Ready", False, "Suspended", message)
    was = get_condition(subject.status.conditions, SUSPENDED)
    if was is None or was.status != "True":
        draft.event("Suspended", message)
    return draft.finish(None)


def _resumed(subject: Subject, draft: Draft) -> None:
    was = get_condition(subject.status.conditions, SUSPENDED)
    if was is not None and was.status == "True":
        draft.condition(SUSPENDED, False, "Resumed", "spec.suspend is false")
        draft.event("Resumed", "spec.suspend is false")


def _wait(subject: Subject, draft: Draft, reason: str, message: str, failed: bool) -> Decision:
    """No version to test (yet, or at all): say why; production, if any, keeps serving."""
    status = draft.status
    serving = status.production is not None and status.production.version is not None
    draft.condition("TestPassed", False if failed else None, reason, message)
    if failed:
        status.phase = "Failed"
    elif not serving:
        status.phase = "Pending"
    else:
        status.phase = status.phase or "Serving"
    if not serving:
        draft.condition("Ready", False, reason, message)
    if _changed(subject.status, draft):
        draft.event(reason, message, warning=failed)
    # Whatever it waits for (the Model to exist, to publish, to pass its gates) arrives as an
    # event of the Model, which reconciles this Deployment at once (`DeploymentFollowers`):
    # looking again sooner only read the Deployment and its Model every few seconds for nothing
    # (500 waiting Deployments made 325 API requests a second at idle).
    return draft.finish(SETTLED_SECONDS)


def _changed(old: DeploymentStatus, draft: Draft) -> bool:
    """Whether the status will be written: Events of waiting states are posted only then."""
    new = draft.status.model_copy(update={"observed_generation": draft.generation})
    return new != old


def _summarise(status: DeploymentStatus, draft: Draft) -> None:
    """The Ready condition and the phase, from the stages' state."""
    test, production = status.test, status.production
    if production is not None and production.version is not None and production.promoted_at:
        draft.condition(
            "Ready",
            True,
            "Serving",
            f"version {production.version} serves production "
            f"({production.ready_replicas or 0} ready)",
        )
    else:
        draft.condition("Ready", False, "NotServing", "production has no ready version yet")
    phase: DeploymentPhase
    rolling = production is not None and production.version is not None
    rolling = rolling and not (production and production.promoted_at)
    canary = status.canary
    if rolling or (canary is not None and canary.state in ("Progressing", "Waiting")):
        phase = "Promoting"
    elif test is None or test.passed is None:
        phase = "Testing"
    elif test.passed is False:
        phase = "Failed"
    elif production is not None and production.version == test.version:
        phase = "Serving"
    else:
        phase = "AwaitingApproval"
    status.phase = phase


def _requeue(
    phase: DeploymentPhase | None, shadowing: bool = False, retiring: bool = False
) -> float:
    if phase in ACTIVE_PHASES or retiring:
        return IN_FLIGHT_SECONDS
    # Shadow figures change with traffic, not with events: refresh them while they are shown.
    return SHADOW_REFRESH_SECONDS if shadowing and phase == "AwaitingApproval" else SETTLED_SECONDS
