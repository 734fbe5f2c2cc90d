"""The trainer end to end: a snapshot in, a verified catalog version and a summary out."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelship.catalog import FileCatalog
from modelship.contracts.training import TERMINATION_MESSAGE_LIMIT
from modelship.training.main import main
from modelship.training.reference import profile


@dataclass
class Run:
    code: int
    message: dict[str, Any]  # the termination message
    stdout: str
    catalog: FileCatalog


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own MODELSHIP_TRAINING_* must not leak into these runs."""
    for name in list(os.environ):
        if name.startswith("MODELSHIP_TRAINING_"):
            monkeypatch.delenv(name)


@pytest.fixture
def trainer(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> Any:
    def run(snapshot: dict[str, Any], model: str = "m", *extra: str) -> Run:
        snapshot_file = tmp_path / f"snapshot-{model}.json"
        snapshot_file.write_text(json.dumps(snapshot))
        termination = tmp_path / "termination-log"
        code = main(
            [
                "--snapshot-file", str(snapshot_file),
                "--catalog-root", str(tmp_path / "catalog"),
                "--namespace", "team-a",
                "--model-name", model,
                "--training-job-name", f"{model}-1",
                "--termination-message-path", str(termination),
                *extra,
            ]
        )  # fmt: skip
        stdout = capfd.readouterr().out
        return Run(
            code, json.loads(termination.read_text()), stdout, FileCatalog(tmp_path / "catalog")
        )

    return run


def snapshot(uri: str, algorithm: str, task: str = "classification", **kw: Any) -> dict[str, Any]:
    return {
        "task": task,
        "dataset": {"uri": uri, **kw.pop("dataset", {})},
        "algorithm": {"name": algorithm, "params": kw.pop("params", {})},
        "evaluation": {"testFraction": 0.25, "seed": 7, **kw.pop("evaluation", {})},
    }


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    lines = [",".join(header), *(",".join(str(v) for v in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_iris_random_forest_publishes_a_verified_version(trainer: Any) -> None:
    gates = [{"metric": "accuracy", "min": 0.8}, {"metric": "f1_macro", "min": 0.99, "max": 1.0}]
    run = trainer(
        snapshot(
            "builtin:iris",
            "random_forest",
            params={"n_estimators": 20},
            evaluation={"gates": gates},
        ),
        "iris",
    )

    assert run.code == 0
    summary = run.message
    assert run.stdout.strip() == json.dumps(summary, separators=(",", ":"))
    assert set(summary) == {
        "version",
        "digest",
        "metrics",
        "gates",
        "gatesPassed",
        "artifactUri",
        "datasetDigest",
    }
    assert summary["version"] == 1
    assert set(summary["metrics"]) == {
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "precision_macro",
        "recall_macro",
        "roc_auc",
    }
    assert summary["gates"][0] == {
        "metric": "accuracy",
        "value": summary["metrics"]["accuracy"],
        "bound": ">= 0.8",
        "passed": True,
    }
    assert summary["gates"][1]["bound"] == ">= 0.99 and <= 1"
    assert summary["gatesPassed"] is summary["gates"][1]["passed"]
    assert summary["artifactUri"].endswith("/team-a/iris/1/model.skops")
    metadata = run.catalog.verify("team-a", "iris", 1)
    assert metadata.digest == summary["digest"]
    assert metadata.dataset.digest == summary["datasetDigest"]
    assert metadata.dataset.rows == 150
    assert metadata.algorithm.params == {"n_estimators": 20, "random_state": 7}
    assert metadata.target.classes == [0, 1, 2]
    assert metadata.training_job == "iris-1"
    assert metadata.evaluation is not None and metadata.evaluation.test_rows == 38
    version = run.catalog.open_verified("team-a", "iris", 1, expected_digest=summary["digest"])
    acceptance = version.acceptance()
    assert len(acceptance.inputs) == 38
    predicted = version.load_model().predict(np.array(acceptance.inputs))
    assert np.mean(predicted == np.array(acceptance.targets)) == summary["metrics"]["accuracy"]
    profile = version.profile()
    assert [f.name for f in profile.features] == [f.name for f in metadata.features]
    # Up to 10 quantile bins; tied quantiles (iris is measured to 1 mm) merge into fewer.
    assert all(5 <= len(f.frequencies) <= 10 for f in profile.features)
    assert max(len(f.frequencies) for f in profile.features) == 10


def test_diabetes_ridge_is_a_regression(trainer: Any) -> None:
    run = trainer(
        snapshot(
            "builtin:diabetes",
            "ridge",
            "regression",
            params={"alpha": 0.5},
            evaluation={"gates": [{"metric": "r2", "min": 0.9}]},
        ),
        "diabetes",
    )

    assert run.code == 0
    assert set(run.message["metrics"]) == {"r2", "rmse", "mae"}
    assert run.message["gates"][0]["passed"] is False
    assert run.message["gatesPassed"] is False
    metadata = run.catalog.verify("team-a", "diabetes", 1)  # published all the same
    assert metadata.target.classes is None
    assert not metadata.gates_passed


def test_training_is_reproducible(trainer: Any) -> None:
    spec = snapshot("builtin:wine", "gradient_boosting", params={"n_estimators": 10})

    first, second = trainer(spec, "wine"), trainer(spec, "wine")

    assert (first.message["version"], second.message["version"]) == (1, 2)
    assert first.message["metrics"] == second.message["metrics"]


def test_csv_with_target_and_feature_selection(trainer: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(120):
        size = rng.normal()
        label = "big" if size > 0 else "small"
        rows.append([i, f"{size:.4f}", f"{rng.normal():.4f}", "red" if i % 2 else "blue", label])
    csv = write_csv(tmp_path / "shapes.csv", ["id", "size", "noise", "colour", "kind"], rows)

    run = trainer(
        snapshot(
            csv.as_uri(),
            "logistic_regression",
            dataset={"target": "kind", "features": ["size", "noise"]},
        ),
        "shapes",
    )

    assert run.code == 0, run.message
    metadata = run.catalog.verify("team-a", "shapes", 1)
    assert [f.name for f in metadata.features] == ["size", "noise"]
    assert metadata.target.name == "kind"
    assert metadata.target.classes == ["big", "small"]
    assert run.message["metrics"]["accuracy"] > 0.9
    acceptance = run.catalog.open_verified("team-a", "shapes", 1).acceptance()
    assert set(acceptance.targets) <= {"big", "small"}


def test_non_numeric_feature_is_refused_with_its_name(trainer: Any, tmp_path: Path) -> None:
    csv = write_csv(
        tmp_path / "c.csv",
        ["size", "colour", "kind"],
        [[i, "red" if i % 2 else "blue", i % 2] for i in range(40)],
    )

    run = trainer(snapshot(csv.as_uri(), "random_forest", dataset={"target": "kind"}))

    assert run.code == 2
    assert run.message["reason"] == "InvalidDataset"
    assert "feature column 'colour' is not numeric" in run.message["error"]
    assert "'blue'" in run.message["error"]
    assert run.catalog.version_numbers("team-a", "m") == []


def test_acceptance_set_is_capped(trainer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSHIP_TRAINING_ACCEPTANCE_ROWS", "50")

    run = trainer(snapshot("builtin:digits", "decision_tree"), "digits")

    assert run.code == 0
    acceptance = run.catalog.open_verified("team-a", "digits", 1).acceptance()
    assert len(acceptance.inputs) == 50
    assert len(acceptance.features) == 64


def test_estimator_chatter_never_reaches_stdout(tmp_path: Path) -> None:
    """libsvm prints from C when verbose; stdout must still be exactly the summary line."""
    spec = snapshot("builtin:iris", "svc", params={"verbose": True})
    env = {
        "MODELSHIP_TRAINING_SNAPSHOT": json.dumps(spec),
        "MODELSHIP_TRAINING_CATALOG_ROOT": str(tmp_path / "catalog"),
        "MODELSHIP_TRAINING_MODEL": "chatty",
        "MODELSHIP_TRAINING_TERMINATION_MESSAGE_PATH": str(tmp_path / "term"),
        "PATH": "/usr/bin:/bin",
    }

    done = subprocess.run(
        [sys.executable, "-m", "modelship.training"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1
    assert json.loads(done.stdout)["version"] == 1
    assert done.stdout == (tmp_path / "term").read_text()
    assert "optimization finished" in done.stderr.lower() or "*" in done.stderr


def test_summary_fits_a_termination_message(trainer: Any) -> None:
    gates = [{"metric": "accuracy", "min": i / 100} for i in range(60)]

    run = trainer(snapshot("builtin:iris", "knn", evaluation={"gates": gates}))

    assert run.code == 0
    assert len(run.stdout.encode()) < TERMINATION_MESSAGE_LIMIT
    assert run.message["version"] == 1


# -- http(s) datasets ---------------------------------------------------------------------


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static file server on 127.0.0.1 (never another interface), for http:// datasets."""
    served = tmp_path / "www"
    served.mkdir()
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_http_csv_dataset(trainer: Any, http_root: tuple[str, Path]) -> None:
    base, served = http_root
    rows = [[x, 3 * x + 1] for x in range(50)]
    write_csv(served / "line.csv", ["x", "y"], rows)

    run = trainer(
        snapshot(f"{base}/line.csv", "linear_regression", "regression", dataset={"target": "y"}),
        "line",
    )

    assert run.code == 0, run.message
    assert run.message["metrics"]["r2"] == pytest.approx(1.0)
    assert run.catalog.get("team-a", "line", 1).dataset.uri == f"{base}/line.csv"


def test_http_not_found_is_bad_input(trainer: Any, http_root: tuple[str, Path]) -> None:
    base, _ = http_root

    run = trainer(snapshot(f"{base}/missing.csv", "ridge", "regression", dataset={"target": "y"}))

    assert (run.code, run.message["reason"]) == (2, "DatasetNotFound")
    assert "HTTP 404" in run.message["error"]


def test_http_dataset_over_the_size_limit_is_refused(
    trainer: Any, http_root: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served = http_root
    write_csv(served / "big.csv", ["x", "y"], [[x, x] for x in range(2000)])
    monkeypatch.setenv("MODELSHIP_TRAINING_HTTP_MAX_BYTES", "1000")

    run = trainer(snapshot(f"{base}/big.csv", "ridge", "regression", dataset={"target": "y"}))

    assert (run.code, run.message["reason"]) == (2, "DatasetTooLarge")


def test_unreachable_url_is_transient(trainer: Any) -> None:
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    run = trainer(
        snapshot("http://127.0.0.1:9/d.csv", "ridge", "regression", dataset={"target": "y"})
    )

    assert (run.code, run.message["reason"]) == (1, "DatasetUnavailable")
    assert run.catalog.version_numbers("team-a", "m") == []


def test_profile_bins_continuous_discrete_and_constant_features() -> None:
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.normal(size=1000), rng.integers(0, 2, 1000), np.full(1000, 3.0)])

    continuous, flag, constant = profile(["c", "flag", "k"], x, bins=10).features

    assert len(continuous.edges) == 11 and continuous.frequencies == pytest.approx([0.1] * 10)
    assert flag.edges == [0.0, 0.5, 1.0]  # one bin per value, not merged quantiles
    assert sum(flag.frequencies) == pytest.approx(1.0)
    assert (constant.edges, constant.frequencies) == ([2.5, 3.5], [1.0])


def test_the_trainer_computes_exactly_the_metrics_gates_may_name() -> None:
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from modelship.training.evaluation import METRICS_BY_TASK, compute_metrics, split

    for task, (x, y), estimator in (
        ("classification", load_iris(return_X_y=True), LogisticRegression(max_iter=500)),
        ("regression", load_diabetes(return_X_y=True), LinearRegression()),
    ):
        data = split(x, y, task, 0.3, 1)
        estimator.fit(data.x_train, data.y_train)
        assert set(compute_metrics(estimator, data, task)) == set(METRICS_BY_TASK[task])
