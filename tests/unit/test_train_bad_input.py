"""Every kind of bad input: a non-zero exit, a one-line reason, and no catalog version.

Exit 2 means "do not retry" to the TrainingJob controller; the few cases where a retry can help
(network, storage) exit 1 and are asserted as such.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from modelship.catalog import FileCatalog
from modelship.training.datasets import HttpLimits, load_table
from modelship.training.errors import BadInput
from modelship.training.main import main

IRIS = {
    "task": "classification",
    "dataset": {"uri": "builtin:iris"},
    "algorithm": {"name": "random_forest", "params": {"n_estimators": 5}},
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MODELSHIP_TRAINING_"):
            monkeypatch.delenv(name)


def train(
    tmp_path: Path, snapshot: dict[str, Any] | str, *, root: Path | None = None, model: str = "m"
) -> tuple[int, dict[str, Any]]:
    """Run the trainer in-process; return the exit code and the termination message."""
    snapshot_file = tmp_path / "snapshot.json"
    snapshot_file.write_text(snapshot if isinstance(snapshot, str) else json.dumps(snapshot))
    termination = tmp_path / "termination-log"
    code = main(
        [
            "--snapshot-file",
            str(snapshot_file),
            "--catalog-root",
            str(root or tmp_path / "catalog"),
            "--model-name",
            model,
            "--termination-message-path",
            str(termination),
        ]
    )
    text = termination.read_text()
    assert text.count("\n") == 1, "the termination message is one line"
    return code, json.loads(text)


def csv_snapshot(path: Path, target: str = "y", algorithm: str = "random_forest") -> dict[str, Any]:
    return {
        "task": "classification",
        "dataset": {"uri": path.as_uri(), "target": target},
        "algorithm": {"name": algorithm},
    }


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def assert_refused(
    tmp_path: Path, result: tuple[int, dict[str, Any]], reason: str, fragment: str, code: int = 2
) -> None:
    assert result[0] == code, result[1]
    assert result[1]["reason"] == reason
    assert fragment in result[1]["error"]
    assert FileCatalog(tmp_path / "catalog").version_numbers("default", "m") == []


def test_unknown_dataset_scheme(tmp_path: Path) -> None:
    snapshot = {**IRIS, "dataset": {"uri": "s3://bucket/data.csv", "target": "y"}}
    assert_refused(tmp_path, train(tmp_path, snapshot), "InvalidSnapshot", "dataset.uri")


def test_unknown_builtin(tmp_path: Path) -> None:
    snapshot = {**IRIS, "dataset": {"uri": "builtin:mnist"}}
    assert_refused(tmp_path, train(tmp_path, snapshot), "InvalidSnapshot", "dataset.uri")


def test_unknown_scheme_and_builtin_are_refused_by_the_loader_too() -> None:
    """Defence in depth: the loader does not rely on the API's URI pattern."""
    limits = HttpLimits(max_bytes=1000, timeout_seconds=1)
    with pytest.raises(BadInput, match="unsupported dataset URI"):
        load_table("ftp://example.invalid/d.csv", limits)
    with pytest.raises(BadInput, match="unknown builtin dataset 'mnist'"):
        load_table("builtin:mnist", limits)


def test_missing_file(tmp_path: Path) -> None:
    result = train(tmp_path, csv_snapshot(tmp_path / "nope.csv"))
    assert_refused(tmp_path, result, "DatasetNotFound", "does not exist")


def test_empty_file(tmp_path: Path) -> None:
    result = train(tmp_path, csv_snapshot(write(tmp_path / "empty.csv", "")))
    assert_refused(tmp_path, result, "InvalidDataset", "dataset is empty")


def test_header_only(tmp_path: Path) -> None:
    result = train(tmp_path, csv_snapshot(write(tmp_path / "h.csv", "x,y\n")))
    assert_refused(tmp_path, result, "InvalidDataset", "no rows")


def test_ragged_rows(tmp_path: Path) -> None:
    result = train(tmp_path, csv_snapshot(write(tmp_path / "r.csv", "x,y\n1,0\n2\n")))
    assert_refused(tmp_path, result, "InvalidDataset", "line 3 has 1 fields")


def test_missing_target_column(tmp_path: Path) -> None:
    csv = write(tmp_path / "d.csv", "a,b\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    result = train(tmp_path, csv_snapshot(csv, target="label"))
    assert_refused(tmp_path, result, "InvalidDataset", "target column 'label' not in dataset")


def test_target_with_one_class(tmp_path: Path) -> None:
    csv = write(tmp_path / "d.csv", "x,y\n" + "".join(f"{i},yes\n" for i in range(20)))
    result = train(tmp_path, csv_snapshot(csv))
    assert_refused(tmp_path, result, "InvalidDataset", "single class ('yes')")


def test_nan_in_features(tmp_path: Path) -> None:
    rows = "".join(f"{'' if i == 7 else i},{i % 2}\n" for i in range(20))
    result = train(tmp_path, csv_snapshot(write(tmp_path / "d.csv", "x,y\n" + rows)))
    assert_refused(tmp_path, result, "InvalidDataset", "'x' has 1 missing or non-finite value(s)")


def test_class_too_small_to_split(tmp_path: Path) -> None:
    rows = "".join(f"{i},{'b' if i == 0 else 'a'}\n" for i in range(20))
    result = train(tmp_path, csv_snapshot(write(tmp_path / "d.csv", "x,y\n" + rows)))
    assert_refused(tmp_path, result, "InvalidDataset", "cannot split 20 rows")


def test_unknown_algorithm(tmp_path: Path) -> None:
    snapshot = {**IRIS, "algorithm": {"name": "catboost"}}
    assert_refused(tmp_path, train(tmp_path, snapshot), "InvalidSnapshot", "algorithm.name")


def test_unknown_parameter_is_named(tmp_path: Path) -> None:
    snapshot = {**IRIS, "algorithm": {"name": "random_forest", "params": {"n_trees": 5}}}
    assert_refused(tmp_path, train(tmp_path, snapshot), "InvalidParameter", "'n_trees'")


def test_ill_typed_parameter_is_named(tmp_path: Path) -> None:
    snapshot = {**IRIS, "algorithm": {"name": "random_forest", "params": {"max_depth": "deep"}}}
    assert_refused(tmp_path, train(tmp_path, snapshot), "InvalidParameter", "'max_depth'")


def test_parameters_the_data_cannot_satisfy(tmp_path: Path) -> None:
    """Valid on its own, impossible with 112 training rows; scikit-learn only says so at predict."""
    snapshot = {**IRIS, "algorithm": {"name": "knn", "params": {"n_neighbors": 500}}}
    assert_refused(tmp_path, train(tmp_path, snapshot), "EvaluationFailed", "n_neighbors")


def test_task_algorithm_mismatch(tmp_path: Path) -> None:
    snapshot = {**IRIS, "algorithm": {"name": "ridge"}}
    assert_refused(tmp_path, train(tmp_path, snapshot), "InvalidSnapshot", "regression")


def test_snapshot_that_is_not_json(tmp_path: Path) -> None:
    assert_refused(tmp_path, train(tmp_path, "{task:"), "InvalidSnapshot", "not JSON")


def test_no_snapshot_at_all(tmp_path: Path) -> None:
    termination = tmp_path / "termination-log"
    code = main(
        [
            "--catalog-root",
            str(tmp_path),
            "--model-name",
            "m",
            "--termination-message-path",
            str(termination),
        ]
    )
    assert code == 2
    assert json.loads(termination.read_text())["reason"] == "InvalidConfiguration"


def test_invalid_model_name(tmp_path: Path) -> None:
    result = train(tmp_path, IRIS, model="../escape")
    assert_refused(tmp_path, result, "InvalidConfiguration", "invalid model name")


def test_invalid_setting_still_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    termination = tmp_path / "termination-log"
    monkeypatch.setenv("MODELSHIP_TRAINING_TERMINATION_MESSAGE_PATH", str(termination))
    monkeypatch.setenv("MODELSHIP_TRAINING_HTTP_MAX_BYTES", "lots")

    assert main([]) == 2
    assert json.loads(termination.read_text())["reason"] == "InvalidConfiguration"


def test_unwritable_catalog_root_is_retryable(tmp_path: Path) -> None:
    blocker = write(tmp_path / "not-a-directory", "")

    code, message = train(tmp_path, IRIS, root=blocker / "catalog")

    assert (code, message["reason"]) == (1, "CatalogUnavailable")
    assert "cannot publish" in message["error"]
