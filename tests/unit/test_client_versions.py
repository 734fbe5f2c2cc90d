"""The SDK's version table and comparison, from typed status: text, differences, DataFrame."""

from __future__ import annotations

from modelship.api.v1alpha1 import TrainingJob, VersionSummary
from modelship.client.versions import Comparison, VersionRow, VersionTable
from support.factories import iris_model

DIGEST = "sha256:" + "c" * 64


def row(version: int, n_estimators: int | None, accuracy: float) -> VersionRow:
    summary = VersionSummary(
        version=version,
        digest=DIGEST,
        metrics={"accuracy": accuracy},
        passed_gates=True,
        training_job=f"iris-{version}",
        dataset_digest="sha256:" + "d" * 64,
    )
    job = None
    if n_estimators is not None:
        spec = iris_model()["spec"]
        spec["algorithm"]["params"] = {"n_estimators": n_estimators}
        job = TrainingJob.model_validate(
            {
                "spec": {
                    "modelRef": {"name": "iris"},
                    "trigger": "spec-change",
                    "modelGeneration": version,
                    "snapshot": spec,
                },
                "status": {
                    "gates": [
                        {"metric": "accuracy", "value": accuracy, "bound": ">= 0.8", "passed": True}
                    ]
                },
            }
        )
    return VersionRow.of(summary, job)


def test_two_versions_side_by_side_show_what_differs() -> None:
    comparison = Comparison(row(1, 20, 0.93), row(2, 50, 0.96))
    assert comparison.differences() == {
        "trainingJob": ("iris-1", "iris-2"),
        "metric:accuracy": (0.93, 0.96),
        "param:n_estimators": (20, 50),
        "gate:accuracy": ("pass (0.93 >= 0.8)", "pass (0.96 >= 0.8)"),
    }
    text = str(comparison)
    assert "version 1" in text and "param:n_estimators" in text
    frame = comparison.to_dataframe()
    assert frame.loc["param:n_estimators"].tolist() == [20, 50]


def test_a_version_whose_training_job_is_gone_still_lists_its_metrics() -> None:
    table = VersionTable([row(2, 50, 0.96), row(1, None, 0.93)])
    assert table[1].params is None and table[1].metrics == {"accuracy": 0.93}
    assert "param:n_estimators" in str(table).splitlines()[0]
    assert list(table.to_dataframe().index) == [2, 1]
