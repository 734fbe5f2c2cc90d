"""The TrainingJob state machine, one transition at a time, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modelship.api.v1alpha1 import ModelSpec, TrainingJob, TrainingJobStatus
from modelship.contracts.gates import Champion
from modelship.contracts.training import TrainerSummary
from modelship.operator.kube.actions import CreateJob, PostEvent
from modelship.operator.model.builders import build_training_job
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.builders import build_training_pod_job
from modelship.operator.trainingjob.decide import (
    AttemptObservation,
    Decision,
    decide,
    failed,
    fmt,
)
from modelship.operator.trainingjob.outcome import Outcome

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = OperatorSettings(
    retry_backoff_seconds=10, retry_backoff_max_seconds=300, resync_seconds=7
)
DIGEST = "sha256:" + "d" * 64


def training_job(gates: list[dict[str, Any]] | None = None, **status: Any) -> TrainingJob:
    spec = ModelSpec.model_validate(
        {
            "task": "classification",
            "dataset": {"uri": "builtin:iris"},
            "algorithm": {"name": "random_forest"},
            "evaluation": {
                "gates": gates if gates is not None else [{"metric": "accuracy", "min": 0.9}]
            },
            "training": {"maxAttempts": 3},
        }
    )
    model = {"metadata": {"name": "iris", "namespace": "ml", "uid": "u", "generation": 1}}
    body = build_training_job(model, spec, "spec-change", "first version", "1")
    body["status"] = status
    return TrainingJob.model_validate(body)


# The TrainingJob as read: what names and owns its attempts' Jobs.
BODY = {"metadata": {"name": "iris-g1", "namespace": "ml", "uid": "tj-u"},
        "spec": {"modelRef": {"name": "iris"}}}  # fmt: skip


def step(tj: TrainingJob, observed: AttemptObservation, now: datetime = NOW) -> Decision:
    return decide(tj, BODY, 1, observed, now, SETTINGS)


def creates(tj: TrainingJob, attempt: int) -> CreateJob:
    """The action that creates attempt `attempt`'s Job and announces it once created."""
    job = build_training_pod_job(BODY, tj.spec.snapshot, attempt, SETTINGS)
    started = f"attempt {attempt}: Job {job['metadata']['name']}"
    return CreateJob(job, announce=PostEvent.normal("TrainingStarted", started))


def condition(status: TrainingJobStatus, type_: str) -> tuple[str, str, str]:
    found = next(c for c in status.conditions if c.type == type_)
    return str(found.status), found.reason, found.message


NO_JOB = AttemptObservation(job_exists=False)


def finished(accuracy: float = 0.95, **summary: Any) -> AttemptObservation:
    report = TrainerSummary(
        version=4,
        digest=DIGEST,
        metrics={"accuracy": accuracy},
        artifact_uri="file:///c/ml/iris/4/model.joblib",
        dataset_digest="sha256:" + "e" * 64,
    )
    return AttemptObservation(True, Outcome("succeeded", summary=report), **summary)


def test_the_first_attempt_is_recorded_before_its_job_exists() -> None:
    decision = step(training_job(), NO_JOB)
    assert decision.actions == ()  # no Job yet: the attempt must be stored first
    assert decision.requeue_after == 0
    assert (decision.status.attempts, decision.status.phase) == (1, "Pending")
    assert decision.status.start_time == fmt(NOW)
    assert condition(decision.status, "Succeeded") == (
        "Unknown",
        "Pending",
        "first training attempt is starting",
    )


def test_a_recorded_attempt_creates_its_job_and_runs() -> None:
    tj = training_job(attempts=1, phase="Pending")
    decision = step(tj, NO_JOB)
    assert decision.actions == (creates(tj, 1),)
    (create,) = decision.actions
    assert isinstance(create, CreateJob) and create.body["metadata"]["name"] == "iris-g1-a1"
    assert create.announce == PostEvent.normal("TrainingStarted", "attempt 1: Job iris-g1-a1")
    assert (decision.status.phase, decision.status.job_name) == ("Running", "iris-g1-a1")
    assert condition(decision.status, "Succeeded")[1:] == ("Running", "attempt 1 of 3 is running")
    assert decision.requeue_after == SETTINGS.resync_seconds


def test_a_running_job_changes_nothing_and_is_looked_at_again() -> None:
    tj = training_job(attempts=1, phase="Running", jobName="iris-g1-a1")
    decision = step(tj, AttemptObservation(True, Outcome("running")))
    assert decision.status == tj.status and decision.actions == ()
    assert decision.requeue_after == SETTINGS.resync_seconds


def test_success_with_gates_passed_publishes_the_version() -> None:
    decision = step(training_job(attempts=1, phase="Running"), finished(0.95))
    status = decision.status
    assert (status.phase, status.version, status.score) == ("Succeeded", 4, "accuracy=0.95")
    assert status.artifact is not None and status.artifact.digest == DIGEST
    assert status.dataset_digest == "sha256:" + "e" * 64
    assert [(g.metric, g.passed, g.bound) for g in status.gates] == [("accuracy", True, ">= 0.9")]
    assert condition(status, "Succeeded") == ("True", "VersionPublished", "published version 4")
    assert condition(status, "GatesPassed") == ("True", "AllGatesPassed", "1 gate(s) passed")
    assert decision.actions == (
        PostEvent("Normal", "TrainingSucceeded", "version 4 (accuracy=0.95)"),
    )
    assert decision.requeue_after is None


def test_a_failed_gate_still_publishes_but_says_why() -> None:
    decision = step(training_job(attempts=1, phase="Running"), finished(0.5))
    assert decision.status.phase == "Succeeded"
    assert condition(decision.status, "GatesPassed") == (
        "False",
        "GateFailed",
        "accuracy 0.5 is not >= 0.9",
    )
    assert decision.actions == (
        PostEvent("Warning", "GateFailed", "version 4 (accuracy=0.5): accuracy 0.5 is not >= 0.9"),
    )


def test_the_champion_gate_needs_the_margin_over_production() -> None:
    tj = training_job([{"metric": "accuracy", "minImprovement": 0.02}], attempts=1)
    champion = Champion(3, {"accuracy": 0.94})
    beaten = step(tj, finished(0.95, champion=champion))
    assert condition(beaten.status, "GatesPassed")[1] == "GateFailed"
    assert "production version 3" in beaten.status.gates[0].bound
    assert condition(step(tj, finished(0.97, champion=champion)).status, "GatesPassed")[0] == "True"
    alone = step(tj, finished(0.5))
    assert alone.status.gates[0].bound == "no champion to compare with"
    assert alone.status.gates[0].passed


def test_a_retryable_failure_backs_off_and_counts_the_next_attempt() -> None:
    tj = training_job(attempts=2, phase="Running", jobName="iris-g1-a2")
    outcome = Outcome("failed", reason="TrainerError", message="exit code 1: disk", retryable=True)
    decision = step(tj, AttemptObservation(True, outcome))
    status = decision.status
    assert (status.attempts, status.phase) == (3, "Pending")
    assert status.failure is not None and status.failure.reason == "TrainerError"
    assert status.next_attempt_time == fmt(NOW + timedelta(seconds=20))  # 10s doubled once
    assert decision.requeue_after == 20
    assert condition(status, "Succeeded") == (
        "Unknown",
        "Retrying",
        "attempt 2 failed (TrainerError: exit code 1: disk); attempt 3 of 3 in 20s",
    )
    assert decision.actions == (
        PostEvent("Warning", "AttemptFailed", "attempt 2: TrainerError: exit code 1: disk"),
    )


def test_no_job_is_created_before_the_back_off_ends() -> None:
    until = NOW + timedelta(seconds=20)
    tj = training_job(attempts=3, phase="Pending", nextAttemptTime=fmt(until))
    waiting = step(tj, NO_JOB, NOW + timedelta(seconds=5))
    assert waiting.actions == () and waiting.status == tj.status
    assert waiting.requeue_after == 15
    due = step(tj, NO_JOB, until)
    assert due.actions == (creates(tj, 3),)
    assert due.status.next_attempt_time is None and due.status.phase == "Running"


def test_retries_run_out_and_the_run_gives_up() -> None:
    tj = training_job(attempts=3, phase="Running")
    outcome = Outcome("failed", reason="DeadlineExceeded", message="too slow", retryable=True)
    decision = step(tj, AttemptObservation(True, outcome))
    assert decision.status.phase == "Failed" and decision.status.attempts == 3
    message = "too slow (gave up after 3 attempts)"
    assert condition(decision.status, "Succeeded") == ("False", "DeadlineExceeded", message)
    assert decision.actions == (
        PostEvent("Warning", "TrainingFailed", f"DeadlineExceeded: {message}"),
    )
    assert decision.requeue_after is None


def test_bad_input_is_never_retried() -> None:
    tj = training_job(attempts=1, phase="Running")
    outcome = Outcome("failed", reason="DatasetNotFound", message="no file", retryable=False)
    decision = step(tj, AttemptObservation(True, outcome))
    assert (decision.status.phase, decision.status.attempts) == ("Failed", 1)
    assert decision.status.failure is not None
    assert decision.status.failure.message == "no file"  # no "gave up": it was never retried
    assert decision.status.next_attempt_time is None


def test_a_finished_run_is_left_alone() -> None:
    tj = training_job(attempts=1, phase="Succeeded", version=4)
    decision = step(tj, NO_JOB)
    assert decision == Decision(tj.status)


def test_an_invalid_spec_fails_once() -> None:
    decision = failed(TrainingJobStatus(), "InvalidSpec", "spec.snapshot: bad", 1, NOW)
    assert decision.status.phase == "Failed"
    assert condition(decision.status, "Succeeded") == ("False", "InvalidSpec", "spec.snapshot: bad")
    assert decision.actions == (
        PostEvent("Warning", "TrainingFailed", "InvalidSpec: spec.snapshot: bad"),
    )
    again = failed(decision.status, "InvalidSpec", "spec.snapshot: bad", 1, NOW)
    assert again == Decision(decision.status)  # terminal: no second Event


def live_use(passed: bool, candidate: float, champion: float) -> Any:
    from modelship.contracts.production_data import LiveGate, ProductionUse, SegmentSpan

    relation = ">=" if passed else "is not >="
    bound = f">= {champion:g} (production version 3 on 120 held-out production row(s))"
    gate = LiveGate(
        metric="accuracy",
        candidate=candidate,
        champion=champion,
        champion_version=3,
        rows=120,
        passed=passed,
        bound=bound,
        reason=f"live accuracy: candidate {candidate:g} {relation} {bound}",
    )
    span = SegmentSpan(count=1, first="a", last="a", digest="sha256:0")
    return ProductionUse(
        store="file:///s",
        window_from="2026-01-01T00:00:00Z",
        window_to="2026-01-02T00:00:00Z",
        weight=5,
        rows=300,
        holdout_rows=120,
        rows_digest="sha256:1",
        captures=span,
        labels=span,
        live_gate=gate,
    )


def test_the_live_gate_on_production_rows_joins_the_gates_naming_both_figures() -> None:
    tj = training_job(attempts=1, phase="Running")
    lost = finished(0.95)
    assert lost.outcome.summary is not None
    lost.outcome.summary.production = live_use(False, 0.55, 0.62)
    decision = step(tj, lost)
    assert [(g.metric, g.passed) for g in decision.status.gates] == [
        ("accuracy", True),
        ("live accuracy", False),
    ]
    assert condition(decision.status, "GatesPassed") == (
        "False",
        "GateFailed",
        "live accuracy 0.55 is not >= 0.62 (production version 3 on 120 held-out production "
        "row(s))",
    )
    assert decision.status.production is not None
    assert (decision.status.production.rows, decision.status.production.holdout_rows) == (300, 120)
    assert decision.status.production.rows_digest == "sha256:1"
    won = finished(0.95)
    assert won.outcome.summary is not None
    won.outcome.summary.production = live_use(True, 0.8, 0.62)
    assert condition(step(tj, won).status, "GatesPassed") == (
        "True",
        "AllGatesPassed",
        "2 gate(s) passed",
    )
