"""`modelship wait`'s judgement (pure), its JUnit output and its argument errors (exit 2)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from modelship.cli import main
from modelship.cli.wait import parse_duration
from modelship.client.junit import write_junit
from modelship.client.waiting import Kind, State, judge

DIGEST = "sha256:" + "b" * 64
CHECKS = [
    {"name": "identity", "passed": True},
    {"name": "latencyP95Ms", "passed": False, "value": 3.2, "bound": "<= 0.001", "message": "slow"},
]


def body(generation: int = 2, observed: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "iris", "generation": generation},
        "status": {"observedGeneration": observed, **status},
    }


def test_status_of_an_older_generation_is_never_taken_for_this_one() -> None:
    stale = body(observed=1, phase="AwaitingApproval", test={"version": 1, "passed": True})
    assert judge(Kind.DEPLOYMENT, "AwaitingApproval", 1, stale).state is State.WAITING


def test_the_named_version_must_be_the_one_tested() -> None:
    other = body(phase="AwaitingApproval", test={"version": 1, "digest": DIGEST, "passed": True})
    assert judge(Kind.DEPLOYMENT, "AwaitingApproval", 2, other).state is State.WAITING
    assert judge(Kind.DEPLOYMENT, "AwaitingApproval", 1, other).state is State.REACHED


def test_failed_acceptance_and_a_rollback_are_final() -> None:
    failed = body(
        phase="Failed", test={"version": 1, "passed": False, "report": {"checks": CHECKS}}
    )
    verdict = judge(Kind.DEPLOYMENT, "AwaitingApproval", 1, failed)
    assert verdict.state is State.UNREACHABLE and verdict.report is not None
    rolled = body(
        phase="Serving",
        test={"version": 2, "passed": True},
        production={"version": 1, "promotedAt": "2026-01-01T00:00:00Z"},
        failedRollout={"version": 2, "digest": DIGEST, "generation": 2, "reason": "CrashLoop"},
    )
    assert judge(Kind.DEPLOYMENT, "Serving", 2, rolled).state is State.UNREACHABLE
    assert judge(Kind.DEPLOYMENT, "Serving", None, rolled).state is State.UNREACHABLE
    assert judge(Kind.DEPLOYMENT, "Serving", 1, rolled).state is State.REACHED  # restored


def test_serving_needs_the_promotion_to_have_completed() -> None:
    promoting = body(
        phase="Promoting", test={"version": 1, "passed": True}, production={"version": 1}
    )
    assert judge(Kind.DEPLOYMENT, "Serving", 1, promoting).state is State.WAITING
    serving = body(
        phase="Serving",
        test={"version": 1, "passed": True},
        production={"version": 1, "promotedAt": "2026-01-01T00:00:00Z"},
    )
    assert judge(Kind.DEPLOYMENT, "Serving", 1, serving).state is State.REACHED


def test_training_jobs_and_models() -> None:
    gates = [{"metric": "accuracy", "value": 0.5, "bound": ">= 0.9", "passed": False}]
    tj = body(phase="Succeeded", version=3, gates=gates)
    assert judge(Kind.TRAINING_JOB, "Succeeded", None, tj).state is State.UNREACHABLE
    assert judge(Kind.TRAINING_JOB, "Succeeded", None, body(phase="Running")).state is State.WAITING
    versions = [{"version": 3, "digest": DIGEST, "passedGates": True}]
    assert judge(Kind.MODEL, "Trained", 3, body(versions=versions)).state is State.REACHED


def test_batch_predictions() -> None:
    resolved = {"version": 4, "digest": DIGEST, "approved": True}
    output = {"ref": "file:///o/predictions.csv", "digest": DIGEST, "rows": 10, "errorRows": 1}
    done = body(phase="Succeeded", resolved=resolved, output=output)
    verdict = judge(Kind.BATCH_PREDICTION, "Succeeded", None, done)
    assert verdict.state is State.REACHED and verdict.version == 4
    assert "10 rows (1 unscorable)" in verdict.message and "predictions.csv" in verdict.message
    assert judge(Kind.BATCH_PREDICTION, "Succeeded", 5, done).state is State.UNREACHABLE
    running = body(phase="Running", resolved=resolved)
    assert judge(Kind.BATCH_PREDICTION, "Succeeded", None, running).state is State.WAITING
    failure = {"reason": "VersionNotApproved", "message": "version 3 was never approved"}
    failed = judge(Kind.BATCH_PREDICTION, "Succeeded", None, body(phase="Failed", failure=failure))
    assert failed.state is State.UNREACHABLE and "VersionNotApproved" in failed.message


def test_the_junit_report_has_one_case_per_check(tmp_path: Path) -> None:
    failed = body(
        phase="Failed", test={"version": 1, "passed": False, "report": {"checks": CHECKS}}
    )
    path = tmp_path / "report.xml"
    write_junit(
        path, "ml/iris", "AwaitingApproval", judge(Kind.DEPLOYMENT, "AwaitingApproval", 1, failed)
    )
    root = ET.parse(path).getroot()
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failure = suite.find("testcase[@name='latencyP95Ms']/failure")
    assert failure is not None and "3.2" in (failure.get("message") or "")


@pytest.mark.parametrize(
    "args",
    [
        ["wait", "deployment/iris", "--for", "Trained"],  # not a Deployment goal
        ["wait", "iris", "--for", "Serving"],  # no kind
        ["wait", "pod/iris", "--for", "Serving"],  # not ours
        ["wait", "deployment/iris", "--for", "Serving", "--timeout", "soon"],
        ["wait", "deployment/iris", "--for", "Serving", "--version", "0"],
        ["wait", "deployment/iris"],  # --for missing (argparse)
        ["wait", "bp/nightly", "--for", "Serving"],  # not a BatchPrediction goal
    ],
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    try:
        code = main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "10m", "1h30m")] == [90, 90, 600, 5400]


def test_a_model_still_training_for_its_spec_has_not_reached_trained() -> None:
    trained = {"type": "Trained", "status": "True", "reason": "VersionPublished", "message": "v1"}
    busy = body(conditions=[trained], activeTrainingJob="iris-2", latestVersion=None)
    assert judge(Kind.MODEL, "Trained", None, busy).state is State.WAITING
    idle = body(conditions=[trained], latestVersion={"version": 1, "digest": DIGEST})
    verdict = judge(Kind.MODEL, "Trained", None, idle)
    assert (verdict.state, verdict.version) == (State.REACHED, 1)
