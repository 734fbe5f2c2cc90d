"""Versions with typed features, trained by the real trainer on the generated churn table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelship.api.v1alpha1 import MISSING_CATEGORY, TrainingSnapshot
from modelship.catalog import open_catalog
from modelship.contracts.features import Columns, FeaturePlan
from modelship.training import synthetic
from modelship.training.run import train
from modelship.training.settings import TrainerSettings
from support.serving import NAMESPACE

FEATURES: list[Any] = [
    {"name": "age", "impute": "none"},
    "income",
    {"name": "tenure", "impute": "mean"},
    {"name": "city", "type": "categorical"},
    {"name": "plan", "type": "categorical", "categories": ["basic", "plus", "premium"],
     "onUnknown": "reject"},
    {"name": "has_card", "type": "categorical"},
]  # fmt: skip


def train_churn(root: Path, model: str, algorithm: str, features: list[Any]) -> Any:
    """Write the churn CSV under `root`, train `algorithm` on it, return (metadata, csv path)."""
    csv_path = root / f"{model}.csv"
    csv_path.write_bytes(synthetic.to_csv(synthetic.churn_table(800, 5)))
    snapshot = TrainingSnapshot.model_validate(
        {
            "task": "classification",
            "dataset": {
                "uri": csv_path.as_uri(),
                "target": "churned",
                "features": features,
                "missingValues": ["", "NA", "?"],
            },
            "algorithm": {"name": algorithm},
            "evaluation": {"seed": 3},
        }
    )
    catalog = open_catalog(str(root))
    settings = TrainerSettings(model_name=model, namespace=NAMESPACE, catalog_root=str(root))
    summary = train(snapshot, settings, catalog)
    return catalog.open_verified(NAMESPACE, model, summary.version)


def in_process(version: Any, rows: dict[str, list[Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probabilities) of the stored estimator on `rows` through the stored plan."""
    plan: FeaturePlan = version.feature_plan()
    missing = set(plan.missing_values)
    columns: Columns = {}
    for step in plan.features:
        values = rows[step.name]
        if step.type == "categorical":
            columns[step.name] = np.array(
                [MISSING_CATEGORY if v is None or v in missing else v for v in values],
                dtype=object,
            )
        else:
            columns[step.name] = np.array(
                [np.nan if v is None else v for v in values], dtype=np.float64
            )
    model = version.load_model()
    matrix = plan.compile()(columns)
    return model.predict(matrix), model.predict_proba(matrix)


def sample_rows(n: int = 12) -> dict[str, list[Any]]:
    """Rows from a fresh draw of the generator, with gaps and an unseen city mixed in."""
    table = synthetic.churn_table(n, 99)
    rows: dict[str, list[Any]] = {
        "age": [None if c == "" else float(c) for c in table["age"]],
        "income": [float(c) for c in table["income"]],
        "tenure": [float(c) for c in table["tenure"]],
        "city": [None if c == "" else str(c) for c in table["city"]],
        "plan": [str(c) for c in table["plan"]],
        "has_card": [str(c) for c in table["has_card"]],
    }
    surprises = [
        ("age", None),
        ("city", None),
        ("city", "atlantis"),  # unseen: ignored (city has onUnknown ignore)
        ("has_card", "NA"),  # the missing vocabulary, on the wire
    ]
    for row, (name, value) in enumerate(surprises[:n]):
        rows[name][row] = value
    return rows
