"""`modelship catalog ...` as a user at a terminal sees it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelship.catalog import (
    AlgorithmInfo,
    FileCatalog,
)
from modelship.catalog.predictions import OutputFile, OutputInput, OutputManifest
from modelship.cli import main
from support.factories import iris_staged_version


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A catalog with three versions of default/iris, named by $MODELSHIP_CATALOG_ROOT."""
    root = tmp_path / "catalog"
    x, y = load_iris(return_X_y=True)
    staged = iris_staged_version(
        LogisticRegression(max_iter=500).fit(x, y),
        algorithm=AlgorithmInfo(name="logistic_regression", params={"C": 1.0}),
        metrics={"accuracy": 0.97, "f1_macro": 0.96},
        training_job="iris-x1",
    )
    catalog = FileCatalog(root)
    for _ in range(3):
        catalog.publish("default", "iris", staged)
    monkeypatch.setenv("MODELSHIP_CATALOG_ROOT", str(root))
    return root


def test_ls_lists_models_then_versions(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "ls"]) == 0
    models = capsys.readouterr().out.splitlines()
    assert models[0].split() == ["NAMESPACE", "MODEL", "VERSIONS", "LATEST"]
    assert models[1].split() == ["default", "iris", "3", "3"]

    assert main(["catalog", "ls", "default", "iris"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["VERSION", "DIGEST", "ALGORITHM", "METRIC"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3"]
    assert "accuracy=0.97" in lines[1]
    assert "iris-x1" in lines[1]


def test_ls_json_is_the_metadata(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "ls", "default", "iris", "--json"]) == 0

    versions = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert versions[0]["trainingJob"] == "iris-x1"


def test_show_prints_one_version(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "show", "default", "iris", "latest"]) == 0
    out = capsys.readouterr().out
    assert "Version:     3" in out
    assert "logistic_regression" in out

    assert main(["catalog", "show", "default", "iris", "2", "--json", "--root", str(root)]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 2


def test_verify_passes_then_fails_on_a_corrupted_byte(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["catalog", "verify", "default", "iris"]) == 0
    assert capsys.readouterr().out.count("OK") == 3

    artifact = root / "default" / "iris" / "2" / "model.skops"
    artifact.chmod(0o644)
    data = bytearray(artifact.read_bytes())
    data[-10] ^= 0xFF
    artifact.write_bytes(bytes(data))

    assert main(["catalog", "verify", "default", "iris"]) == 1
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[1] for row in rows] == ["OK", "FAILED", "OK"]
    assert main(["catalog", "verify", "default", "iris", "2", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["ok"] is False


def test_prune_keeps_newest_and_pinned(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "prune", "default", "iris", "--keep", "1", "--dry-run"]) == 0
    assert "would remove: 1, 2" in capsys.readouterr().out
    assert FileCatalog(root).version_numbers("default", "iris") == [1, 2, 3]

    assert main(["catalog", "prune", "default", "iris", "--keep", "1", "--pin", "1", "--json"]) == 0

    assert json.loads(capsys.readouterr().out) == {"removed": [2], "dryRun": False}
    assert FileCatalog(root).version_numbers("default", "iris") == [1, 3]


def test_errors_are_one_line_with_an_exit_code(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["catalog", "show", "default", "iris", "9"]) == 2
    assert "version 9 of default/iris does not exist" in capsys.readouterr().err

    monkeypatch.delenv("MODELSHIP_CATALOG_ROOT")
    assert main(["catalog", "ls"]) == 2
    assert "no catalog root" in capsys.readouterr().err


def test_predictions_lists_the_outputs_of_a_version(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `Catalog.prediction_outputs` finds, as a table and as JSON."""
    for name, version, approved in [("nightly", 3, True), ("backtest", 2, False)]:
        out = root / "default" / "iris" / "predictions" / name
        out.mkdir(parents=True)
        document = OutputManifest(
            batch_prediction=f"default/{name}", model="iris", version=version,
            model_digest="sha256:" + "a" * 64, approved=approved,
            input=OutputInput(uri="builtin:iris", digest="sha256:" + "b" * 64), format="csv",
            rows=150, error_rows=0, output=OutputFile(file="predictions.csv", digest="sha256:c"),
            parts=[], created_at=f"2026-12-0{version}T00:00:00Z",
        )  # fmt: skip
        (out / "manifest.json").write_bytes(document.to_bytes())
    assert main(["catalog", "predictions", "default", "iris"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["VERSION", "BATCHPREDICTION", "ROWS"]
    assert [line.split()[:2] for line in lines[1:]] == [["2", "default/backtest"],
                                                        ["3", "default/nightly"]]  # fmt: skip
    assert "no (backtest)" in lines[1]
    assert main(["catalog", "predictions", "default", "iris", "--version", "3", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["batchPrediction"] == "default/nightly" and listed["approved"] is True
    assert listed["reference"] == (root / "default" / "iris" / "predictions" / "nightly").as_uri()
