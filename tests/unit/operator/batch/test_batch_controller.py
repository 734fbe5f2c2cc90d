"""observe -> decide -> apply on the fake API server: a run from creation to its TTL.

Jobs' progress is written into the fake as Kubernetes would report it (conditions, counts,
the pod's termination message), so the controller reads real shapes.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry

from modelship.contracts.batch import BatchReport, ShardError
from modelship.operator.batch.controller import reconcile_batch_prediction
from modelship.operator.kube.resources import (
    BATCH_PREDICTIONS,
    JOBS,
    MODEL_DEPLOYMENTS,
    MODELS,
    PODS,
)
from modelship.operator.metrics import OperatorMetrics
from modelship.operator.settings import OperatorSettings
from support.fake_kube import FakeKube

NS = "ml"
D2, D3 = "sha256:" + "2" * 64, "sha256:" + "3" * 64
LOG = logging.getLogger("test")
SETTINGS = OperatorSettings()


def world(version: dict[str, Any] | None = None, **spec: Any) -> FakeKube:
    kube = FakeKube()
    kube.put(MODELS, {"metadata": {"name": "iris", "namespace": NS}, "spec": {},
                      "status": {"versions": [{"version": 2, "digest": D2},
                                              {"version": 3, "digest": D3}]}})  # fmt: skip
    kube.put(MODEL_DEPLOYMENTS, {
        "metadata": {"name": "iris", "namespace": NS}, "spec": {"modelRef": {"name": "iris"}},
        "status": {"production": {"version": 2, "digest": D2, "approvedBy": "alice"}},
    })  # fmt: skip
    kube.put(BATCH_PREDICTIONS, {
        "metadata": {"name": "nightly", "namespace": NS},
        "spec": {"model": "iris", "version": version or {"stage": "production"},
                 "input": {"uri": "builtin:iris"},
                 "sharding": {"rowsPerShard": 50, "parallelism": 2}, **spec},
    })  # fmt: skip
    return kube


def bp(kube: FakeKube) -> dict[str, Any]:
    found = kube.get(BATCH_PREDICTIONS, NS, "nightly")
    assert found is not None
    return found


def reconcile(kube: FakeKube, metrics: OperatorMetrics | None = None) -> float | None:
    return reconcile_batch_prediction(kube, SETTINGS, bp(kube), LOG, metrics)  # type: ignore[arg-type]


def finish(kube: FakeKube, job: str, report: BatchReport | None, ok: bool = True,
           **status: Any) -> None:  # fmt: skip
    body = kube.get(JOBS, NS, job)
    assert body is not None, f"no Job {job}"
    kind = "Complete" if ok else "Failed"
    body["status"] = {"conditions": [{"type": kind, "status": "True"}], **status}
    kube.put(JOBS, body)
    if report is not None:
        kube.put(PODS, {
            "metadata": {"name": f"{job}-x", "namespace": NS, "labels": {"job-name": job},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Succeeded" if ok else "Failed", "containerStatuses": [
                {"name": "batch", "state": {"terminated": {"message": report.to_message()}}}]},
        })  # fmt: skip


def test_a_run_from_creation_to_success_with_a_resume(posted: list[tuple[str, str]]) -> None:
    kube = world()
    metrics = OperatorMetrics(CollectorRegistry(), lambda: True)
    reconcile(kube, metrics)
    status = bp(kube)["status"]
    assert status["phase"] == "Planning"
    assert status["resolved"] == {"version": 2, "digest": D2, "approved": True,
                                  "approvedBy": "alice"}  # fmt: skip
    assert kube.get(JOBS, NS, "nightly-plan") is not None
    assert ("VersionPinned", f"version 2 ({D2}), approved by alice") in posted

    finish(kube, "nightly-plan", BatchReport(step="plan", rows=120, input_digest="sha256:in"))
    reconcile(kube, metrics)
    status = bp(kube)["status"]
    assert status["phase"] == "Running" and status["resolved"]["shards"] == 3
    score = kube.get(JOBS, NS, "nightly-score-1")
    assert score is not None and score["spec"]["completions"] == 3

    running = kube.get(JOBS, NS, "nightly-score-1")
    assert running is not None
    running["status"] = {"active": 2, "succeeded": 1}
    kube.put(JOBS, running)
    reconcile(kube, metrics)
    shards = bp(kube)["status"]["shards"]
    assert (shards["succeeded"], shards["running"], shards.get("failed", 0)) == (1, 2, 0)

    finish(kube, "nightly-score-1", None, succeeded=3)
    reconcile(kube, metrics)
    assert bp(kube)["status"]["phase"] == "Assembling"
    missing = BatchReport(step="assemble", ok=False, reason="PartsMissing", missing_shards=[1],
                          error="1 part(s) missing or damaged: shards [1]")  # fmt: skip
    finish(kube, "nightly-assemble-1", missing)
    reconcile(kube, metrics)
    status = bp(kube)["status"]
    assert status["phase"] == "Running" and status["attempt"] == 2
    assert status["shards"]["retried"] == 1
    assert kube.get(JOBS, NS, "nightly-score-2") is not None

    finish(kube, "nightly-score-2", None, succeeded=3)
    reconcile(kube, metrics)
    done = BatchReport(step="assemble", rows=119, error_rows=1, output_ref="file:///o/p.csv",
                       output_digest="sha256:out", errors_ref="file:///o/errors.jsonl",
                       first_errors=[ShardError(row=7, id="7", reason="bad")])  # fmt: skip
    finish(kube, "nightly-assemble-2", done)
    assert reconcile(kube, metrics) is None
    status = bp(kube)["status"]
    assert status["phase"] == "Succeeded"
    assert status["output"] == {"ref": "file:///o/p.csv", "digest": "sha256:out", "rows": 119,
                                "errorRows": 1, "errorsRef": "file:///o/errors.jsonl"}  # fmt: skip
    assert status["conditions"][0]["reason"] == "OutputWritten"
    registry = metrics.registry
    labels = {"namespace": NS, "model": "iris"}
    assert registry.get_sample_value("modelship_batch_rows_scored_total", labels) == 119
    assert (
        registry.get_sample_value(
            "modelship_batchpredictions_finished_total", {**labels, "outcome": "Succeeded"}
        )
        == 1
    )
    # A later pass changes nothing: no write, no second count.
    writes = len(kube.written())
    reconcile(kube, metrics)
    assert len(kube.written()) == writes


def test_an_unapproved_version_fails_with_a_condition_not_a_crash_loop(
    posted: list[tuple[str, str]],
) -> None:
    kube = world({"number": 3})
    assert reconcile(kube) is None
    status = bp(kube)["status"]
    assert status["phase"] == "Failed" and status["failure"]["reason"] == "VersionNotApproved"
    assert status["conditions"][0]["status"] == "False"
    assert kube.get(JOBS, NS, "nightly-plan") is None
    assert posted[-1][0] == "VersionNotApproved"


def test_a_backtest_of_an_unapproved_version_runs_marked_so(posted: list[tuple[str, str]]) -> None:
    kube = world({"number": 3}, requireApproved=False)
    reconcile(kube)
    resolved = bp(kube)["status"]["resolved"]
    assert resolved["version"] == 3 and resolved["approved"] is False
    job = kube.get(JOBS, NS, "nightly-plan")
    assert job is not None
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MODELSHIP_BATCH_APPROVED"] == "false"


def test_a_failed_shard_fails_the_run_with_its_reason(posted: list[tuple[str, str]]) -> None:
    kube = world()
    reconcile(kube)
    finish(kube, "nightly-plan", BatchReport(step="plan", rows=120, input_digest="sha256:in"))
    reconcile(kube)
    bad = BatchReport(step="shard", ok=False, reason="ColumnNotFound", shard=2,
                      error="feature 'x' of version 2 is not a column")  # fmt: skip
    finish(kube, "nightly-score-1", bad, ok=False, failedIndexes="2")
    reconcile(kube)
    status = bp(kube)["status"]
    assert status["phase"] == "Failed"
    assert status["failure"] == {
        "reason": "ColumnNotFound",
        "message": "shard 2: feature 'x' of version 2 is not a column",
    }
    assert status["shards"]["failed"] == 1


def test_too_many_failed_rows_fail_the_run_naming_them(posted: list[tuple[str, str]]) -> None:
    kube = world()
    reconcile(kube)
    finish(kube, "nightly-plan", BatchReport(step="plan", rows=10, input_digest="sha256:in"))
    reconcile(kube)
    finish(kube, "nightly-score-1", None, succeeded=1)
    reconcile(kube)
    over = BatchReport(
        step="assemble",
        ok=False,
        reason="TooManyFailedRows",
        error="2 row(s) could not be scored (maxFailedRows 0); first: row 3",
    )
    finish(kube, "nightly-assemble-1", over)
    reconcile(kube)
    failure = bp(kube)["status"]["failure"]
    assert failure["reason"] == "TooManyFailedRows" and "row 3" in failure["message"]


def test_an_invalid_spec_fails_once_naming_the_field(posted: list[tuple[str, str]]) -> None:
    kube = world()
    body = bp(kube)
    body["spec"]["version"] = {"stage": "production", "number": 2}
    kube.put(BATCH_PREDICTIONS, body)
    reconcile(kube)
    status = bp(kube)["status"]
    assert status["phase"] == "Failed" and status["failure"]["reason"] == "InvalidSpec"
    assert "exactly one of stage, number or digest" in status["failure"]["message"]


def test_a_finished_run_is_deleted_after_its_ttl(posted: list[tuple[str, str]]) -> None:
    kube = world(ttlSecondsAfterFinished=0)
    body = bp(kube)
    body["status"] = {"phase": "Failed", "completionTime": "2026-01-01T00:00:00Z"}
    kube.put(BATCH_PREDICTIONS, body)
    assert reconcile(kube) is None
    assert kube.get(BATCH_PREDICTIONS, NS, "nightly") is None
    waiting = world(ttlSecondsAfterFinished=10**9)
    body = bp(waiting)
    body["status"] = {"phase": "Failed", "completionTime": "2026-01-01T00:00:00Z"}
    waiting.put(BATCH_PREDICTIONS, body)
    delay = reconcile(waiting)
    assert delay is not None and delay > 0 and waiting.get(BATCH_PREDICTIONS, NS, "nightly")
