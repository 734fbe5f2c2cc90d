"""What the trainer can do: tasks, the estimators a Model may name, and the metrics it reports.

One list, here in the API, because three parties must agree on it: the API server (the names are
enums in the CRD, so a typo is a 422), the operator (gates may name only metrics of the task) and
the trainer (its estimator registry maps exactly these names to scikit-learn classes, checked by a
test in both directions).
"""

from __future__ import annotations

from typing import Literal

Task = Literal["classification", "regression"]

BUILTIN_DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes", "churn_synthetic")

AlgorithmName = Literal[
    "logistic_regression",
    "random_forest",
    "gradient_boosting",
    "hist_gradient_boosting",
    "svc",
    "knn",
    "decision_tree",
    "linear_regression",
    "ridge",
    "lasso",
    "random_forest_regressor",
    "gradient_boosting_regressor",
    "hist_gradient_boosting_regressor",
    "svr",
    "xgboost",
    "lightgbm",
]

_CLASSIFICATION: tuple[Task, ...] = ("classification",)
_REGRESSION: tuple[Task, ...] = ("regression",)
_BOTH: tuple[Task, ...] = ("classification", "regression")

# The estimators a Model may name, and the tasks each one solves. The scikit-learn names are one
# class each, so one task; a gradient-boosting library is one name for both (the trainer picks
# its classifier or its regressor by the Model's task). The trainer maps the same names to
# classes; keeping the list here lets the API server refuse a typo with a 422.
ALGORITHMS: dict[AlgorithmName, tuple[Task, ...]] = {
    "logistic_regression": _CLASSIFICATION,
    "random_forest": _CLASSIFICATION,
    "gradient_boosting": _CLASSIFICATION,
    "hist_gradient_boosting": _CLASSIFICATION,
    "svc": _CLASSIFICATION,
    "knn": _CLASSIFICATION,
    "decision_tree": _CLASSIFICATION,
    "linear_regression": _REGRESSION,
    "ridge": _REGRESSION,
    "lasso": _REGRESSION,
    "random_forest_regressor": _REGRESSION,
    "gradient_boosting_regressor": _REGRESSION,
    "hist_gradient_boosting_regressor": _REGRESSION,
    "svr": _REGRESSION,
    "xgboost": _BOTH,
    "lightgbm": _BOTH,
}


def solves(name: str, task: str) -> bool:
    """Whether the named algorithm can be trained for `task` (False for an unknown name)."""
    tasks: dict[str, tuple[Task, ...]] = dict(ALGORITHMS.items())
    return task in tasks.get(name, ())


# Metrics the trainer computes; gates and acceptance bounds may name only these.
CLASSIFICATION_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "roc_auc",
)
REGRESSION_METRICS = ("r2", "rmse", "mae")
MetricName = Literal[
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "roc_auc",
    "r2",
    "rmse",
    "mae",
]
PRIMARY_METRIC: dict[str, str] = {"classification": "accuracy", "regression": "r2"}
# Metrics where smaller is better; a champion comparison improves downwards for these.
LOWER_IS_BETTER = ("rmse", "mae")
METRICS_BY_TASK: dict[Task, tuple[str, ...]] = {
    "classification": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
}
