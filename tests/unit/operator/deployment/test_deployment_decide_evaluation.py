"""`decide` of the live evaluation: when the Job starts (schedule, annotation, one at a time),
what it records from a report or a failure, and the pure builders it uses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from modelship.api.v1alpha1 import (
    EVALUATE_ANNOTATION,
    DeploymentStatus,
    LabelFileStatus,
    MonitoringSpec,
)
from modelship.contracts.evaluation import EvaluationEnv, EvaluationPlan, EvaluationReport
from modelship.operator.deployment.actions import Decision
from modelship.operator.deployment.builders.evaluation import (
    build_evaluation_job,
    label_files,
    served_versions,
)
from modelship.operator.deployment.decide import SETTLED_SECONDS, decide
from modelship.operator.deployment.observation import Observation, Subject
from modelship.operator.deployment.performance import RUNNING_SECONDS, live_summary
from modelship.operator.deployment.rollout import EvaluationJob
from modelship.operator.kube.actions import CreateJob, PostEvent
from support.deployments import (
    D1,
    D2,
    NOW,
    SETTINGS,
    body,
    kinds,
    model,
    observation,
    pdb,
    ready_test_stage,
    serving_stage,
)

SERVING_1 = {"version": 1, "digest": D1, "service": "iris", "promotedAt": NOW, "readyReplicas": 2}
SERVING: dict[str, Any] = {
    "test": {"version": 1, "digest": D1, "service": "iris-test", "passed": True},
    "production": SERVING_1,
}
EVERY_MINUTE: dict[str, Any] = {"monitoring": {"evaluation": {"intervalSeconds": 60}}}
RUNNING = {"job": "iris-eval-1", "startedAt": "2025-03-01T11:59:50Z", "runs": 1}


def seen(evaluation: EvaluationJob | None = None) -> Observation:
    return observation(
        model=model((1, True, 0.95)), test=ready_test_stage(1), production=serving_stage(1),
        pdb=pdb(), evaluation=evaluation,
    )  # fmt: skip


def run(
    status: dict[str, Any],
    evaluation: EvaluationJob | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Decision:
    raw = body(status, 1, "jane", approval={"version": 1}, **spec)
    raw["metadata"]["annotations"].update(annotations or {})
    return decide(Subject.parse(raw), seen(evaluation), NOW, SETTINGS)


def created_jobs(decision: Decision) -> list[dict[str, Any]]:
    return [a.body for a in decision.actions if isinstance(a, CreateJob)]


def report(value: float | None = 0.9) -> EvaluationReport:
    version: dict[str, Any] = {
        "version": 1, "digest": D1, "role": "production", "captured": 400, "labelled": 200,
        "coverage": 0.5, "metric": "accuracy",
    }  # fmt: skip
    if value is not None:
        version |= {"value": value, "low": 0.85, "high": 0.94, "method": "wilson",
                    "confidence": 0.95}  # fmt: skip
    return EvaluationReport.model_validate(
        {"evaluatedAt": NOW, "windowTo": NOW, "versions": [version], "labels": 210,
         "orphanLabels": 10}
    )  # fmt: skip


def test_without_a_schedule_or_a_request_nothing_runs() -> None:
    decision = run(SERVING)
    assert created_jobs(decision) == [] and decision.status.performance is None
    assert decision.requeue_after == SETTLED_SECONDS


def test_a_schedule_starts_the_first_evaluation_at_once() -> None:
    decision = run(SERVING, **EVERY_MINUTE)
    (job,) = created_jobs(decision)
    assert job["metadata"]["name"] == "iris-eval-1"
    performance = decision.status.performance
    assert performance is not None
    assert (performance.job, performance.runs, performance.started_at) == ("iris-eval-1", 1, NOW)
    assert decision.requeue_after == RUNNING_SECONDS


def test_one_job_at_a_time_while_it_runs() -> None:
    status = {**SERVING, "performance": RUNNING}
    decision = run(status, EvaluationJob(finished=False), {EVALUATE_ANNOTATION: "now"},
                   **EVERY_MINUTE)  # fmt: skip
    assert created_jobs(decision) == [] and decision.requeue_after == RUNNING_SECONDS
    assert decision.status.performance is not None
    assert decision.status.performance.requested is None  # acted on once this one ends


def test_a_finished_job_is_recorded_beside_the_offline_metric_and_deleted() -> None:
    status = {**SERVING, "performance": RUNNING}
    decision = run(status, EvaluationJob(finished=True, report=report()), **EVERY_MINUTE)
    performance = decision.status.performance
    assert performance is not None and performance.job is None and performance.error is None
    (served,) = performance.versions
    assert (served.version, served.role, served.value, served.low, served.high) == (
        1, "production", 0.9, 0.85, 0.94,
    )  # fmt: skip
    assert (served.labelled, served.captured, served.offline) == (200, 400, 0.95)
    assert performance.live == "accuracy=0.900 [0.850,0.940] n=200"
    assert (performance.labels, performance.orphan_labels, performance.evaluated_at) == (
        210, 10, NOW,
    )  # fmt: skip
    assert "delete jobs/iris-eval-1" in kinds(decision.actions)
    assert created_jobs(decision) == []
    assert decision.requeue_after == 50.0  # the next one is due a minute after 11:59:50


def test_the_next_scheduled_run_waits_for_its_interval() -> None:
    started = {"startedAt": "2025-03-01T11:59:30Z", "runs": 1, "evaluatedAt": NOW}
    decision = run({**SERVING, "performance": started}, **EVERY_MINUTE)
    assert created_jobs(decision) == [] and decision.requeue_after == 30.0
    due = {**started, "startedAt": "2025-03-01T11:59:00Z"}
    (job,) = created_jobs(run({**SERVING, "performance": due}, **EVERY_MINUTE))
    assert job["metadata"]["name"] == "iris-eval-2"


def test_a_failed_job_keeps_the_last_figures_and_says_why() -> None:
    before = {**RUNNING, "live": "accuracy=0.900 [0.850,0.940] n=200"}
    failed = EvaluationJob(finished=True, report=EvaluationReport(error="registry unreachable"))
    decision = run({**SERVING, "performance": before}, failed)
    performance = decision.status.performance
    assert performance is not None and performance.error == "registry unreachable"
    assert performance.live == before["live"] and performance.job is None
    assert "warning EvaluationFailed" in kinds(decision.actions)
    vanished = run({**SERVING, "performance": RUNNING}, None).status.performance
    assert vanished is not None and vanished.error == "the Job left no report"


def test_the_annotation_runs_one_evaluation_per_new_value() -> None:
    decision = run(SERVING, annotations={EVALUATE_ANNOTATION: "a"})
    assert len(created_jobs(decision)) == 1
    status = decision.status
    assert status.performance is not None and status.performance.requested == "a"
    done = status.model_copy(deep=True)
    assert done.performance is not None
    done.performance.job = None
    again = run(done.to_wire(), annotations={EVALUATE_ANNOTATION: "a"})
    assert created_jobs(again) == []
    (job,) = created_jobs(run(done.to_wire(), annotations={EVALUATE_ANNOTATION: "b"}))
    assert job["metadata"]["name"] == "iris-eval-2"


def test_nothing_served_nothing_evaluated() -> None:
    raw = body({"test": SERVING["test"]}, 1, None)  # tested, never approved
    raw["metadata"]["annotations"][EVALUATE_ANNOTATION] = "a"
    tested = observation(model=model((1, True, 0.95)), test=ready_test_stage(1))
    decision = decide(Subject.parse(raw), tested, NOW, SETTINGS)
    assert created_jobs(decision) == [] and decision.status.performance is None


def test_served_versions_are_production_canary_and_shadow() -> None:
    status = DeploymentStatus.model_validate({
        "production": SERVING_1,
        "canary": {"version": 2, "digest": D2, "state": "Progressing", "weight": 10},
        "test": {"version": 2, "digest": D2, "shadow": {"version": 2, "percent": 10}},
    })  # fmt: skip
    found = [(v.version, v.role) for v in served_versions(status)]
    assert found == [(1, "production"), (2, "canary")]  # v2 once, in its first role
    completed = status.model_copy(deep=True)
    assert completed.canary is not None
    completed.canary.state = "Completed"
    assert [(v.version, v.role) for v in served_versions(completed)] == [
        (1, "production"), (2, "shadow"),
    ]  # fmt: skip


def test_the_job_carries_the_plan_and_is_bounded() -> None:
    versions = served_versions(DeploymentStatus.model_validate({"production": SERVING_1}))
    subject = Subject.parse(body(SERVING, **EVERY_MINUTE))
    assert subject.mdep is not None
    spec = subject.mdep.spec.monitoring.evaluation
    job = build_evaluation_job(subject.body, 3, versions, spec, "classification", None, SETTINGS)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "modelship.monitoring"]
    assert container["resources"]["limits"]["memory"] == "2Gi"
    env = {e["name"]: e.get("value") for e in container["env"]}
    plan = json.loads(env[EvaluationEnv.env_name("plan")])
    assert plan["model"] == "iris" and plan["versions"] == [
        {"version": 1, "digest": D1, "role": "production"}
    ]
    assert job["spec"]["backoffLimit"] == 0 and job["metadata"]["ownerReferences"]
    labels = job["metadata"]["labels"]
    assert labels["modelship.io/stage"] == "evaluation"  # never selected as a serving stage


def test_live_summary_without_labels() -> None:
    assert live_summary([]) is None
    status = run({**SERVING, "performance": RUNNING},
                 EvaluationJob(finished=True, report=report(None))).status  # fmt: skip
    assert status.performance is not None
    assert status.performance.live == "accuracy: no labels (captured 400)"


def test_the_models_label_files_and_sample_rate_travel_in_the_plan() -> None:
    versions = served_versions(DeploymentStatus.model_validate({"production": SERVING_1}))
    subject = Subject.parse(body(SERVING, **EVERY_MINUTE))
    assert subject.mdep is not None
    monitoring = MonitoringSpec.model_validate({
        "capture": {"sampleRate": 0.5},
        "labels": {"files": [
            {"uri": "https://crm.example/labels.csv", "idColumn": "pid", "labelColumn": "y"},
            {"uri": "file:///catalog/labels/q3.csv"},
        ]},
    })  # fmt: skip
    job = build_evaluation_job(subject.body, 1, versions, subject.mdep.spec.monitoring.evaluation,
                               "classification", monitoring, SETTINGS)  # fmt: skip
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    plan = EvaluationPlan.model_validate_json(env[EvaluationEnv.env_name("plan")])
    assert [(f.uri, f.id_column, f.label_column) for f in plan.label_files] == [
        ("https://crm.example/labels.csv", "pid", "y"),
        ("file:///catalog/labels/q3.csv", "id", "label"),
    ]
    assert plan.sample_rate == 0.5
    assert label_files(None) == [] and label_files(MonitoringSpec()) == []


def test_label_files_outside_file_and_http_or_too_many_are_refused_by_the_api() -> None:
    with pytest.raises(ValidationError, match="uri"):
        MonitoringSpec.model_validate({"labels": {"files": [{"uri": "s3://bucket/labels.csv"}]}})
    too_many = [{"uri": f"file:///l/{i}.csv"} for i in range(5)]
    with pytest.raises(ValidationError, match="files"):
        MonitoringSpec.model_validate({"labels": {"files": too_many}})


def test_what_the_job_made_of_each_label_file_is_recorded_with_events() -> None:
    files = [
        {"uri": "file:///l/a.csv", "outcome": "ingested", "digest": "sha256:aa", "rows": 10,
         "accepted": 8, "refused": {"malformed_id": 1, "unknown_id": 1}},
        {"uri": "file:///l/b.csv", "outcome": "unchanged", "digest": "sha256:bb", "rows": 5,
         "accepted": 5},
        {"uri": "https://crm.example/c.csv", "outcome": "failed",
         "error": "downloading https://crm.example/c.csv failed with HTTP 404"},
    ]  # fmt: skip
    done = report().model_copy(update={"label_files": [LabelFileStatus.model_validate(f)
                                                       for f in files]})  # fmt: skip
    decision = run({**SERVING, "performance": RUNNING}, EvaluationJob(finished=True, report=done))
    performance = decision.status.performance
    assert performance is not None
    assert [(f.uri, f.outcome) for f in performance.label_files] == [
        ("file:///l/a.csv", "ingested"), ("file:///l/b.csv", "unchanged"),
        ("https://crm.example/c.csv", "failed"),
    ]  # fmt: skip
    events = kinds(decision.actions)
    assert "event LabelFileIngested" in events and "warning LabelFileFailed" in events
    messages = [a.message for a in decision.actions if isinstance(a, PostEvent)]
    assert any("8 of 10 rows stored as labels; refused: malformed_id 1, unknown_id 1" in m
               for m in messages)  # fmt: skip
    assert any("HTTP 404" in m for m in messages)
    # a failed evaluation still says what became of the files; one without any clears the list
    failed = EvaluationReport(error="registry unreachable", label_files=done.label_files)
    after = run({**SERVING, "performance": RUNNING}, EvaluationJob(finished=True, report=failed))
    assert after.status.performance is not None and len(after.status.performance.label_files) == 3
    cleared = run({**SERVING, "performance": {**RUNNING, "labelFiles": files}},
                  EvaluationJob(finished=True, report=report()))  # fmt: skip
    assert cleared.status.performance is not None and cleared.status.performance.label_files == []
