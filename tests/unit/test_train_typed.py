"""Training on typed features: a mixed table with categories and gaps, end to end.

The trainer reads the CSV with the missing vocabulary, fits the feature plan on the training
rows, checks it against scikit-learn, trains, and publishes `features.json` beside the model;
the version's metadata records the schema and its acceptance rows are typed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelship.catalog import FEATURES_FILE, FileCatalog
from modelship.contracts.features import CategoricalStep, NumericStep
from modelship.training import synthetic
from modelship.training.main import main

FEATURES: list[Any] = [
    {"name": "age", "impute": "none"},
    "income",
    {"name": "tenure", "impute": "mean"},
    {"name": "city", "type": "categorical"},
    {"name": "plan", "type": "categorical", "categories": ["basic", "plus", "premium"],
     "onUnknown": "reject"},
    {"name": "has_card", "type": "categorical"},
]  # fmt: skip


@pytest.fixture
def churn_csv(tmp_path: Path) -> Path:
    path = tmp_path / "churn.csv"
    path.write_bytes(synthetic.to_csv(synthetic.churn_table(600, 3)))
    return path


def train(tmp_path: Path, uri: str, algorithm: str, **dataset: Any) -> tuple[int, dict[str, Any]]:
    snapshot = {
        "task": "classification",
        "dataset": {"uri": uri, **dataset},
        "algorithm": {"name": algorithm, "params": {}},
        "evaluation": {"testFraction": 0.25, "seed": 7},
    }
    (tmp_path / "snapshot.json").write_text(json.dumps(snapshot))
    termination = tmp_path / "termination-log"
    code = main(
        [
            "--snapshot-file", str(tmp_path / "snapshot.json"),
            "--catalog-root", str(tmp_path / "catalog"),
            "--namespace", "team-a",
            "--model-name", "churn",
            "--termination-message-path", str(termination),
        ]
    )  # fmt: skip
    return code, json.loads(termination.read_text())


def test_hist_gradient_boosting_trains_on_a_mixed_table_with_gaps(
    tmp_path: Path, churn_csv: Path
) -> None:
    code, summary = train(
        tmp_path, churn_csv.as_uri(), "hist_gradient_boosting", target="churned", features=FEATURES
    )

    assert code == 0, summary
    assert summary["metrics"]["roc_auc"] > 0.7
    catalog = FileCatalog(tmp_path / "catalog")
    version = catalog.open_verified("team-a", "churn", 1, summary["digest"])
    metadata = version.metadata
    assert FEATURES_FILE in metadata.files  # covered by the version digest
    assert [(f.name, f.type, f.dtype) for f in metadata.features] == [
        ("age", "numeric", "float64"),
        ("income", "numeric", "float64"),
        ("tenure", "numeric", "float64"),
        ("city", "categorical", "string"),
        ("plan", "categorical", "string"),
        ("has_card", "categorical", "string"),
    ]
    plan = version.feature_plan()
    assert plan is not None
    age, _, tenure, city, plan_step, _ = plan.features
    assert isinstance(age, NumericStep) and age.fill is None  # impute none: NaN reaches HGB
    assert isinstance(tenure, NumericStep) and tenure.impute == "mean"
    assert isinstance(city, CategoricalStep) and city.encoding == "ordinal"
    assert set(city.vocabulary) == {*synthetic.CITIES, "__missing__"}
    assert isinstance(plan_step, CategoricalStep) and plan_step.on_unknown == "reject"
    assert plan.output_columns == ["age", "income", "tenure", "city", "plan", "has_card"]

    model = version.load_model()
    assert model.n_features_in_ == 6  # ordinal codes: one column per categorical feature
    acceptance = version.acceptance()
    assert acceptance.features == plan.names
    assert any(row[0] is None for row in acceptance.inputs)  # gaps stay gaps, as JSON null
    assert {row[3] for row in acceptance.inputs} <= {*synthetic.CITIES, None}
    # The acceptance rows, through the stored plan, give the metrics the trainer reported.
    columns = {
        "age": np.array([np.nan if r[0] is None else r[0] for r in acceptance.inputs]),
        "income": np.array([r[1] for r in acceptance.inputs], dtype=float),
        "tenure": np.array([r[2] for r in acceptance.inputs], dtype=float),
        **{
            name: np.array(["__missing__" if r[i] is None else r[i] for r in acceptance.inputs],
                           dtype=object)
            for i, name in ((3, "city"), (4, "plan"), (5, "has_card"))
        },
    }  # fmt: skip
    predicted = model.predict(plan.compile()(columns))
    accuracy = float(np.mean(predicted == np.array(acceptance.targets)))
    assert accuracy == pytest.approx(summary["metrics"]["accuracy"])
    profile = {f.name: f for f in version.profile().features}
    assert profile["city"].categories is not None and profile["city"].categories[-1] == (
        "__unknown__"
    )
    assert profile["age"].missing == pytest.approx(0.05, abs=0.03)


def test_linear_model_gets_one_hot_columns(tmp_path: Path, churn_csv: Path) -> None:
    features = [f for f in FEATURES if not (isinstance(f, dict) and f.get("impute") == "none")]
    code, summary = train(
        tmp_path, churn_csv.as_uri(), "logistic_regression", target="churned", features=features
    )
    assert code == 0, summary
    plan = FileCatalog(tmp_path / "catalog").open_verified("team-a", "churn", 1).feature_plan()
    assert plan is not None
    assert "city=north" in plan.output_columns and "plan=premium" in plan.output_columns
    assert {s.encoding for s in plan.features if isinstance(s, CategoricalStep)} == {"onehot"}


def test_builtin_churn_synthetic_trains(tmp_path: Path) -> None:
    code, summary = train(
        tmp_path, "builtin:churn_synthetic", "hist_gradient_boosting", features=FEATURES
    )
    assert code == 0, summary
    assert summary["metrics"]["roc_auc"] > 0.75


@pytest.mark.parametrize(
    ("cell", "features", "message"),
    [
        pytest.param(
            "lots", FEATURES, "numeric feature 'income' has 'lots' at data row 2", id="not-a-number"
        ),
        pytest.param(
            "gold", FEATURES, "'plan' has 'gold' in the training rows", id="unknown-under-reject"
        ),
    ],
)
def test_bad_cells_are_named(tmp_path: Path, cell: str, features: list[Any], message: str) -> None:
    table = synthetic.churn_table(200, 1)
    column = "income" if cell == "lots" else "plan"
    table[column][1] = cell
    path = tmp_path / "bad.csv"
    path.write_bytes(synthetic.to_csv(table))
    code, failure = train(
        tmp_path, path.as_uri(), "hist_gradient_boosting", target="churned", features=features
    )
    assert code == 2
    assert failure["reason"] == "InvalidDataset"
    assert message in failure["error"]


def test_missing_vocabulary_is_the_models(tmp_path: Path) -> None:
    table = synthetic.churn_table(300, 2)
    table["age"] = np.where(table["age"] == "", "?", table["age"])
    path = tmp_path / "question-marks.csv"
    path.write_bytes(synthetic.to_csv(table))
    code, failure = train(
        tmp_path, path.as_uri(), "hist_gradient_boosting", target="churned", features=FEATURES
    )
    assert code == 2 and "numeric feature 'age' has '?'" in failure["error"]
    code, summary = train(
        tmp_path, path.as_uri(), "hist_gradient_boosting", target="churned",
        features=FEATURES, missingValues=["", "?"],
    )  # fmt: skip
    assert code == 0, summary


def test_the_churn_sample_trains_and_passes_its_gate(tmp_path: Path) -> None:
    import yaml

    from modelship.api.v1alpha1 import Model
    from modelship.catalog import open_catalog
    from modelship.training.run import train as train_snapshot
    from modelship.training.settings import TrainerSettings

    sample = Path(__file__).parents[2] / "manifests" / "samples" / "model-churn.yaml"
    model = Model.model_validate(yaml.safe_load(sample.read_text()))
    settings = TrainerSettings(model_name="churn", namespace="ml", catalog_root=str(tmp_path))
    summary = train_snapshot(model.spec.snapshot(), settings, open_catalog(str(tmp_path)))
    assert summary.gates_passed and summary.metrics["roc_auc"] >= 0.75


def test_regression_on_typed_features(tmp_path: Path, churn_csv: Path) -> None:
    snapshot = {
        "task": "regression",
        "dataset": {
            "uri": churn_csv.as_uri(),
            "target": "income",
            "features": ["tenure", {"name": "city", "type": "categorical"}, {"name": "age"}],
        },
        "algorithm": {"name": "ridge", "params": {}},
        "evaluation": {"testFraction": 0.25, "seed": 7},
    }
    (tmp_path / "snapshot.json").write_text(json.dumps(snapshot))
    code = main(
        [
            "--snapshot-file", str(tmp_path / "snapshot.json"),
            "--catalog-root", str(tmp_path / "catalog"),
            "--namespace", "team-a",
            "--model-name", "income",
            "--termination-message-path", str(tmp_path / "termination-log"),
        ]
    )  # fmt: skip
    summary = json.loads((tmp_path / "termination-log").read_text())
    assert code == 0, summary
    assert set(summary["metrics"]) == {"r2", "rmse", "mae"}
    version = FileCatalog(tmp_path / "catalog").open_verified("team-a", "income", 1)
    assert version.metadata.target.classes is None
    assert version.feature_plan() is not None


def test_the_generator_is_seeded_and_its_drifted_variant_moves_cities(tmp_path: Path) -> None:
    assert synthetic.to_csv(synthetic.churn_table()) == synthetic.to_csv(synthetic.churn_table())
    assert synthetic.main([str(tmp_path / "churn.csv")]) == 0
    assert (tmp_path / "churn.csv").read_bytes() == synthetic.to_csv(synthetic.churn_table())
    usual = synthetic.churn_table()["city"]
    drifted = synthetic.churn_table(drifted=True)["city"]
    assert np.mean(usual == "north") > 0.3 and np.mean(drifted == "north") < 0.1
    assert np.mean(usual == "") == pytest.approx(0.03, abs=0.01)


def test_missing_values_alone_make_every_column_a_typed_number(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    lines = ["a,b,y"] + [
        f"{'' if i % 10 == 0 else f'{a[i]:.3f}'},{'NA' if i % 7 == 0 else i % 5},{int(a[i] > 0)}"
        for i in range(200)
    ]
    path = tmp_path / "gaps.csv"
    path.write_text("\n".join(lines) + "\n")
    code, failure = train(tmp_path, path.as_uri(), "logistic_regression", target="y")
    assert code == 2 and "feature column 'a' has 20 missing" in failure["error"]
    code, summary = train(
        tmp_path, path.as_uri(), "logistic_regression", target="y", missingValues=["", "NA"]
    )
    assert code == 0, summary
    plan = FileCatalog(tmp_path / "catalog").open_verified("team-a", "churn", 1).feature_plan()
    assert plan is not None and [s.impute for s in plan.features] == ["median", "median"]  # type: ignore[union-attr]
