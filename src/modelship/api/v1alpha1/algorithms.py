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
]

# The estimators a Model may name, and the task each one solves. The trainer maps the same names
# to scikit-learn classes; keeping the list here lets the API server refuse a typo with a 422.
ALGORITHMS: dict[AlgorithmName, Task] = {
    "logistic_regression": "classification",
    "random_forest": "classification",
    "gradient_boosting": "classification",
    "hist_gradient_boosting": "classification",
    "svc": "classification",
    "knn": "classification",
    "decision_tree": "classification",
    "linear_regression": "regression",
    "ridge": "regression",
    "lasso": "regression",
    "random_forest_regressor": "regression",
    "gradient_boosting_regressor": "regression",
    "hist_gradient_boosting_regressor": "regression",
    "svr": "regression",
}

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
