"""The trainer and the operator agree: the environment in, the summary out, the algorithm list."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, get_args

import pytest
from sklearn.base import is_classifier, is_regressor

from modelship.api.v1alpha1 import (
    ALGORITHMS,
    AlgorithmName,
    GateResult,
    ModelSpec,
    TrainingSnapshot,
)
from modelship.contracts.training import (
    TERMINATION_MESSAGE_LIMIT,
    TrainerEnv,
    TrainerFailure,
    TrainerSummary,
)
from modelship.operator.model.builders import build_training_job
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.builders import build_training_pod_job
from modelship.operator.trainingjob.outcome import read_outcome
from modelship.training.algorithms import build_estimator, registry
from modelship.training.errors import BadInput, TrainerError
from modelship.training.main import error_line, summary_line
from modelship.training.settings import TrainerSettings

SRC = Path(__file__).parents[2] / "src" / "modelship"


def trainer_env() -> list[dict[str, str]]:
    """Every MODELSHIP_* variable of the real trainer Job the operator builds."""
    spec = ModelSpec.model_validate(
        {
            "task": "classification",
            "dataset": {"uri": "builtin:iris"},
            "algorithm": {"name": "svc", "params": {"C": 2.0}},
            "evaluation": {"gates": [{"metric": "accuracy", "min": 0.9}]},
        }
    )
    model = {"metadata": {"name": "iris", "namespace": "ml", "uid": "u", "generation": 3}}
    tj = build_training_job(model, spec, "spec-change", "r", "3")
    tj["metadata"]["uid"] = "t"
    snapshot = TrainingSnapshot.model_validate(tj["spec"]["snapshot"])
    job = build_training_pod_job(tj, snapshot, 1, OperatorSettings(catalog_mount_path="/cat"))
    containers = job["spec"]["template"]["spec"]["containers"]
    return [e for c in containers for e in c["env"] if e["name"].startswith("MODELSHIP_")]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("MODELSHIP_"):
            monkeypatch.delenv(name)
    return monkeypatch


def fields_reading(name: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The TrainerSettings fields that take their value from the variable `name`."""
    with monkeypatch.context() as patch:
        patch.setenv(name, "sentinel-value")
        read = TrainerSettings()
    return [f for f, v in read.model_dump().items() if str(v) == "sentinel-value"]


def test_the_trainer_reads_every_variable_the_operator_sets(clean_env: pytest.MonkeyPatch) -> None:
    env = trainer_env()
    assert {e["name"] for e in env} >= {
        "MODELSHIP_TRAINING_SNAPSHOT",
        "MODELSHIP_TRAINING_MODEL_NAME",
        "MODELSHIP_TRAINING_CATALOG_ROOT",
    }
    readers = {e["name"]: fields_reading(e["name"], clean_env) for e in env}
    unread = [name for name, fields in readers.items() if len(fields) != 1]
    assert not unread, f"set by the operator, not read (exactly once) by the trainer: {unread}"
    for entry in env:
        clean_env.setenv(entry["name"], entry["value"])
    settings = TrainerSettings()
    for entry in env:
        [field] = readers[entry["name"]]
        assert str(getattr(settings, field)) == entry["value"], entry["name"]
    assert settings.snapshot is not None
    assert json.loads(settings.snapshot)["algorithm"] == {"name": "svc", "params": {"C": 2.0}}


def test_the_old_short_names_are_still_accepted(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MODELSHIP_TRAINING_MODEL", "iris")
    clean_env.setenv("MODELSHIP_TRAINING_TRAINING_JOB", "iris-g1")
    settings = TrainerSettings()
    assert (settings.model_name, settings.training_job_name) == ("iris", "iris-g1")
    assert TrainerEnv.env_name("model_name") == "MODELSHIP_TRAINING_MODEL_NAME"


def terminated(exit_code: int, message: str) -> list[dict[str, Any]]:
    state = {"terminated": {"exitCode": exit_code, "message": message}}
    return [
        {
            "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"containerStatuses": [{"name": "trainer", "state": state}]},
        }
    ]


def job(condition: str) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": condition, "status": "True"}]}}


def test_the_summary_the_trainer_writes_is_the_one_the_operator_reads() -> None:
    written = TrainerSummary(
        version=7,
        digest="sha256:" + "a" * 64,
        metrics={"accuracy": 0.9666666666666667},
        gates=[GateResult(metric="accuracy", value=0.96, bound=">= 0.9", passed=True)],
        gates_passed=True,
        artifact_uri="file:///cat/ml/iris/7/model.joblib",
        dataset_digest="sha256:" + "b" * 64,
    )
    line = summary_line(written)
    assert "gatesTruncated" not in line and '"artifactUri"' in line
    outcome = read_outcome(job("Complete"), terminated(0, f"some log\n{line}\n"))
    assert outcome.state == "succeeded" and outcome.summary == written


def test_a_long_summary_drops_passed_gates_to_fit() -> None:
    gates = [
        GateResult(metric="accuracy", value=0.9, bound=">= 0." + "9" * 40, passed=i != 3)
        for i in range(100)
    ]
    summary = TrainerSummary(version=1, digest="sha256:x", gates=gates)
    line = summary_line(summary)
    assert len(line.encode()) < TERMINATION_MESSAGE_LIMIT
    read = TrainerSummary.from_termination_message(line)
    assert read is not None and read.gates_truncated and len(read.gates) == 1


def test_a_failure_the_trainer_reports_reaches_the_operator_with_its_reason() -> None:
    bad = read_outcome(
        job("Failed"), terminated(2, error_line(BadInput("DatasetNotFound", "no  such\nfile")))
    )
    assert (bad.reason, bad.message, bad.retryable) == ("DatasetNotFound", "no such file", False)
    flaky = read_outcome(job("Failed"), terminated(1, error_line(TrainerError("Disk", "full"))))
    assert (flaky.reason, flaky.message, flaky.retryable) == ("Disk", "exit code 1: full", True)
    traceback = TrainerFailure.from_termination_message("Traceback ...\nValueError: boom")
    assert traceback == TrainerFailure(error="Traceback ...\nValueError: boom")
    assert TrainerSummary.from_termination_message(error_line(TrainerError("X", "y"))) is None


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_trainer_builds_exactly_the_api_s_algorithms_of_each_task(task: Any) -> None:
    assert set(registry()) == set(ALGORITHMS) == set(get_args(AlgorithmName))
    in_api = {name for name, tasks in ALGORITHMS.items() if task in tasks}
    check = is_classifier if task == "classification" else is_regressor
    built = {name for name in in_api if check(build_estimator(name, {}, task, seed=0).estimator)}
    assert built == in_api
    other = "regression" if task == "classification" else "classification"
    for name in in_api:
        if other in ALGORITHMS[name]:  # type: ignore[index]
            assert not check(build_estimator(name, {}, other, seed=0).estimator)
            continue
        with pytest.raises(BadInput, match="is for"):
            build_estimator(name, {}, other, seed=0)


def test_the_layers_below_the_api_name_the_same_tasks() -> None:
    """The catalog depends on nothing of ours and the server keeps its own copy; they must agree."""
    from modelship.api.v1alpha1 import Task
    from modelship.catalog.models import Task as CatalogTask
    from modelship.serving.runtime import Task as ServingTask

    assert get_args(CatalogTask) == get_args(ServingTask) == get_args(Task)


def test_the_operator_never_imports_the_trainer_or_the_server() -> None:
    offenders = []
    for path in (SRC / "operator").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path.name}: {n}"
                for n in names
                if n.startswith(("modelship.training", "modelship.serving"))
            ]
    assert offenders == []
