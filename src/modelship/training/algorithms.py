"""The allow-list of estimators a Model may name, and how their hyperparameters are checked.

Only estimators listed here can be trained: a Model's `params` reach the constructor, so an open
door to arbitrary classes would be an open door to arbitrary code. Scale-sensitive estimators are
wrapped in a Pipeline with a StandardScaler so the served artifact scales its own inputs; the
user's params always address the estimator itself, never the pipeline. Which names exist and the
task each solves is the API's `ALGORITHMS`; this registry only says how to build each one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelship.api.v1alpha1 import ALGORITHMS, AlgorithmName, Task
from modelship.training.errors import BadInput


@dataclass(frozen=True)
class Algorithm:
    estimator: str  # "module:Class" — imported only when used
    scaled: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)


def registry() -> dict[AlgorithmName, Algorithm]:
    """Name -> estimator, for exactly the names `ALGORITHMS` allows (a test checks both ways)."""
    return {
        "logistic_regression": Algorithm(
            "sklearn.linear_model:LogisticRegression", True, {"max_iter": 1000}
        ),
        "random_forest": Algorithm("sklearn.ensemble:RandomForestClassifier"),
        "gradient_boosting": Algorithm("sklearn.ensemble:GradientBoostingClassifier"),
        "hist_gradient_boosting": Algorithm("sklearn.ensemble:HistGradientBoostingClassifier"),
        # probability=True so acceptance and ROC AUC can use predict_proba like the others.
        "svc": Algorithm("sklearn.svm:SVC", True, {"probability": True}),
        "knn": Algorithm("sklearn.neighbors:KNeighborsClassifier", True),
        "decision_tree": Algorithm("sklearn.tree:DecisionTreeClassifier"),
        "linear_regression": Algorithm("sklearn.linear_model:LinearRegression"),
        "ridge": Algorithm("sklearn.linear_model:Ridge"),
        "lasso": Algorithm("sklearn.linear_model:Lasso"),
        "random_forest_regressor": Algorithm("sklearn.ensemble:RandomForestRegressor"),
        "gradient_boosting_regressor": Algorithm("sklearn.ensemble:GradientBoostingRegressor"),
        "hist_gradient_boosting_regressor": Algorithm(
            "sklearn.ensemble:HistGradientBoostingRegressor"
        ),
        "svr": Algorithm("sklearn.svm:SVR", True),
    }


@dataclass(frozen=True)
class Built:
    estimator: Any
    params: dict[str, Any]  # what was set explicitly: user params plus the seed we injected


def build_estimator(name: str, params: dict[str, Any], task: Task, seed: int) -> Built:
    """Instantiate the named estimator with checked params (unknown keys named and refused)."""
    import importlib

    algorithms: dict[str, Algorithm] = {n: a for n, a in registry().items()}
    algorithm = algorithms.get(name)
    if algorithm is None:
        raise BadInput(
            "InvalidAlgorithm",
            f"unknown algorithm {name!r}; allowed: {', '.join(sorted(algorithms))}",
        )
    tasks: dict[str, Task] = {n: t for n, t in ALGORITHMS.items()}
    solves = tasks[name]
    if solves != task:
        raise BadInput("InvalidAlgorithm", f"algorithm {name!r} is for {solves}, not {task}")
    module, _, cls_name = algorithm.estimator.partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    estimator = cls(**algorithm.defaults)
    accepted = estimator.get_params(deep=False)
    if unknown := sorted(set(params) - set(accepted)):
        raise BadInput(
            "InvalidParameter",
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for {name} ({cls_name}); "
            f"accepted: {', '.join(sorted(accepted))}",
        )
    explicit = dict(params)
    if "random_state" in accepted and "random_state" not in params:
        explicit["random_state"] = seed  # reproducible: same snapshot, same model
    estimator.set_params(**explicit)
    if not algorithm.scaled:
        return Built(estimator, explicit)
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Built(Pipeline([("scale", StandardScaler()), ("model", estimator)]), explicit)


def fit(estimator: Any, x: Any, y: Any, name: str) -> None:
    """Fit, turning scikit-learn's own parameter checks into bad input naming the parameter."""
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        estimator.fit(x, y)
    except InvalidParameterError as exc:
        # scikit-learn validates types and ranges at fit time; its message names the parameter.
        # (Imported from a private module: it is the only class it raises for this, since 1.2.)
        raise BadInput("InvalidParameter", f"{name}: {exc}") from exc
    except (ValueError, TypeError) as exc:
        # Data was validated before fitting, so what is left is a params combination the
        # estimator refuses (e.g. a penalty its solver does not support): retrying cannot help.
        raise BadInput("FitFailed", f"{name} could not be fitted: {exc}") from exc
