"""Held-out evaluation: a seeded split, the task's metrics, and the Model's quality gates.

The split is stratified for classification so a small class is represented in the test set (and
so in the acceptance set the test stage replays). Metrics that are undefined for a given split
(ROC AUC when a class is missing from it) are left out rather than reported as NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from modelship.api.v1alpha1 import METRICS_BY_TASK, Gate
from modelship.catalog import GateResult
from modelship.contracts import gates as gate_rule
from modelship.training.errors import BadInput

# The metric names gates may use are the API's; compute_metrics produces exactly these (a test
# pins it).
__all__ = ["METRICS_BY_TASK", "Split", "compute_metrics", "evaluate_gates", "split"]


@dataclass(frozen=True)
class Split:
    x_train: npt.NDArray[np.float64]
    x_test: npt.NDArray[np.float64]
    y_train: npt.NDArray[np.generic]
    y_test: npt.NDArray[np.generic]


def split(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.generic],
    task: str,
    test_fraction: float,
    seed: int,
) -> Split:
    from sklearn.model_selection import train_test_split

    try:
        x_train, x_test, y_train, y_test = train_test_split(
            x,
            y,
            test_size=test_fraction,
            random_state=seed,
            stratify=y if task == "classification" else None,
        )
    except ValueError as exc:
        raise BadInput(
            "InvalidDataset", f"cannot split {len(y)} rows with testFraction {test_fraction}: {exc}"
        ) from exc
    return Split(x_train, x_test, y_train, y_test)


def compute_metrics(estimator: Any, data: Split, task: str) -> dict[str, float]:
    from sklearn import metrics as m
    from sklearn.exceptions import UndefinedMetricWarning

    predicted = estimator.predict(data.x_test)
    y = data.y_test
    if task == "regression":
        values = {
            "r2": m.r2_score(y, predicted),
            "rmse": m.root_mean_squared_error(y, predicted),
            "mae": m.mean_absolute_error(y, predicted),
        }
    else:
        with warnings.catch_warnings():
            # A class never predicted makes precision ill-defined; 0 is the honest value there.
            warnings.simplefilter("ignore", category=UndefinedMetricWarning)
            values = {
                "accuracy": m.accuracy_score(y, predicted),
                "balanced_accuracy": m.balanced_accuracy_score(y, predicted),
                "f1_macro": m.f1_score(y, predicted, average="macro", zero_division=0),
                "precision_macro": m.precision_score(
                    y, predicted, average="macro", zero_division=0
                ),
                "recall_macro": m.recall_score(y, predicted, average="macro", zero_division=0),
            }
        if (auc := _roc_auc(estimator, data)) is not None:
            values["roc_auc"] = auc
    return {name: float(v) for name, v in values.items() if math.isfinite(float(v))}


def _roc_auc(estimator: Any, data: Split) -> float | None:
    from sklearn.metrics import roc_auc_score

    if not hasattr(estimator, "predict_proba"):
        return None
    classes = list(estimator.classes_)
    if set(np.unique(data.y_test).tolist()) != set(classes):
        return None  # undefined when a class is absent from the held-out split
    proba = estimator.predict_proba(data.x_test)
    try:
        if len(classes) == 2:
            return float(roc_auc_score(data.y_test, proba[:, 1]))
        return float(
            roc_auc_score(data.y_test, proba, multi_class="ovr", average="macro", labels=classes)
        )
    except ValueError:
        return None


def evaluate_gates(gates: Sequence[Gate], metrics: dict[str, float]) -> list[GateResult]:
    """The shared gate rule, without a champion (production is the operator's to know), with the
    bounds kept as numbers too for the catalog's metadata."""
    verdicts = gate_rule.evaluate_gates(gates, metrics)
    return [
        GateResult(
            metric=verdict.metric,
            value=verdict.value,
            bound=verdict.bound,
            min=gate.min,
            max=gate.max,
            passed=verdict.passed,
        )
        for gate, verdict in zip(gates, verdicts, strict=True)
    ]
