"""The allow-list of estimators a Model may name, and how their hyperparameters are checked.

Only estimators listed here can be trained: a Model's `params` reach the constructor, so an open
door to arbitrary classes would be an open door to arbitrary code. Scale-sensitive estimators are
wrapped in a Pipeline with a StandardScaler so the served artifact scales its own inputs; the
user's params always address the estimator itself, never the pipeline. Which names exist and the
tasks each solves is the API's `ALGORITHMS`; this registry only says how to build each one.

`xgboost` and `lightgbm` are one name for both tasks: their scikit-learn classifier or regressor,
by the Model's task. They are fitted on class codes (0..k-1) and published in their own formats
(catalog.boosters): `fit` returns the model loaded back from those bytes, so the trainer evaluates
exactly what will be served. Their thread count defaults to the CPUs this process may use (a pod's
CPU limit), not the node's: OpenMP threads beyond the quota only wait for each other.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelship.api.v1alpha1 import ALGORITHMS, AlgorithmName, Task, solves
from modelship.catalog import CatalogError
from modelship.catalog.boosters import Framework, from_estimator
from modelship.training.errors import BadInput

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


@dataclass(frozen=True)
class Algorithm:
    estimator: str | dict[Task, str]  # "module:Class" (one per task for a library solving both)
    scaled: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)
    framework: Framework | None = None
    """Published in this library's own format rather than with skops."""
    refused: dict[str, str] = field(default_factory=dict)
    """Params the constructor takes but a served version could not honour, with the reason."""


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
        "xgboost": Algorithm(
            {"classification": "xgboost:XGBClassifier", "regression": "xgboost:XGBRegressor"},
            framework="xgboost",
            refused=_XGBOOST_REFUSED,
        ),
        "lightgbm": Algorithm(
            {"classification": "lightgbm:LGBMClassifier", "regression": "lightgbm:LGBMRegressor"},
            # LightGBM logs every tree's warnings to stdout (which the trainer keeps for its
            # summary) unless told otherwise.
            defaults={"verbose": -1},
            framework="lightgbm",
        ),
    }


_XGBOOST_REFUSED = {
    # Not part of the saved model: a server would read NaN as missing whatever was trained.
    "missing": "NaN is the missing value (a served model could not honour another)",
    "callbacks": "callbacks are code, and a Model's params are data",
    "device": "the trainer and the servers run on CPUs",
}


@dataclass(frozen=True)
class Built:
    estimator: Any
    params: dict[str, Any]  # what was set explicitly: user params plus the seed we injected
    framework: Framework | None = None


def usable_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 quota (a pod's CPU limit)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus or 1, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit to read: the affinity is the budget
    return max(1, cpus or 1)


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
    if not solves(name, task):
        tasks: dict[str, tuple[Task, ...]] = dict(ALGORITHMS.items())
        raise BadInput(
            "InvalidAlgorithm", f"algorithm {name!r} is for {' or '.join(tasks[name])}, not {task}"
        )
    path = (
        algorithm.estimator if isinstance(algorithm.estimator, str) else algorithm.estimator[task]
    )
    module, _, cls_name = path.partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    estimator = cls(**algorithm.defaults)
    if refused := sorted(set(params) & set(algorithm.refused)):
        reasons = "; ".join(f"{key!r}: {algorithm.refused[key]}" for key in refused)
        raise BadInput("InvalidParameter", f"{name} does not take {reasons}")
    accepted = set(estimator.get_params(deep=False)) - set(algorithm.refused)
    if unknown := sorted(set(params) - accepted):
        raise BadInput(
            "InvalidParameter",
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for {name} ({cls_name}); "
            f"accepted: {', '.join(sorted(accepted))}",
        )
    explicit = dict(params)
    if "random_state" in accepted and "random_state" not in params:
        explicit["random_state"] = seed  # reproducible: same snapshot, same model
    if algorithm.framework is not None and "n_jobs" not in params:
        explicit["n_jobs"] = usable_cpus()
    estimator.set_params(**explicit)
    if not algorithm.scaled:
        return Built(estimator, explicit, algorithm.framework)
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Built(Pipeline([("scale", StandardScaler()), ("model", estimator)]), explicit)


def weight_option(built: Built) -> str | None:
    """The `fit` keyword that takes per-row sample weights, or None when the estimator has none
    (knn). A scaled estimator is a Pipeline: the weights go to its model step (the scaler's
    means stay unweighted)."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import has_fit_parameter

    estimator, prefix = built.estimator, ""
    if isinstance(estimator, Pipeline):
        step, estimator = estimator.steps[-1]
        prefix = f"{step}__"
    return f"{prefix}sample_weight" if has_fit_parameter(estimator, "sample_weight") else None


def fit(
    built: Built,
    x: Any,
    y: Any,
    name: str,
    classes: list[Any] | None,
    categorical: Sequence[int] = (),
    sample_weight: Any = None,
) -> Any:
    """Fit, turning the estimator's own parameter checks into bad input naming the parameter.

    Returns the model to evaluate and publish: the estimator itself, or for XGBoost and LightGBM
    the booster loaded back from its artifact, predicting the labels of `classes`.
    `categorical` are the columns holding category codes (0, 1, ...; NaN for missing): XGBoost
    and LightGBM split on them as categories (the split sets are part of their artifacts, and
    their predictions read the same codes from a plain numpy matrix); other estimators see the
    codes as numbers. `sample_weight`: one weight per row, for an estimator that takes them
    (`weight_option`; asking for weights an estimator cannot take is bad input).
    """
    weights: dict[str, Any] = {}
    if sample_weight is not None:
        option = weight_option(built)
        if option is None:
            raise BadInput("InvalidConfiguration", f"{name} cannot take sample weights")
        weights[option] = sample_weight
    if built.framework is None:
        _fit(built.estimator, x, y, name, **weights)
        return built.estimator
    if classes is not None:
        y = np.searchsorted(np.asarray(classes), y)  # codes 0..k-1, as XGBoost requires
    errors: tuple[type[Exception], ...] = ()
    options: dict[str, Any] = {}
    if built.framework == "lightgbm":
        import lightgbm

        errors = (lightgbm.basic.LightGBMError,)  # not a ValueError, unlike XGBoost's
        if categorical:
            options["categorical_feature"] = sorted(categorical)
    elif categorical:
        types = ["c" if i in set(categorical) else "q" for i in range(np.shape(x)[1])]
        built.estimator.set_params(feature_types=types, enable_categorical=True)
    _fit(built.estimator, x, y, name, errors, **options, **weights)
    try:
        return from_estimator(built.framework, built.estimator, classes)
    except CatalogError as exc:  # the params made a model the server could not serve
        raise BadInput("FitFailed", f"{name}: {exc}") from exc


def _fit(
    estimator: Any,
    x: Any,
    y: Any,
    name: str,
    errors: tuple[type[Exception], ...] = (),
    **options: Any,
) -> None:
    from sklearn.utils._param_validation import InvalidParameterError

    refused: tuple[type[Exception], ...] = (ValueError, TypeError, *errors)
    try:
        estimator.fit(x, y, **options)
    except InvalidParameterError as exc:
        # scikit-learn validates types and ranges at fit time; its message names the parameter.
        # (Imported from a private module: it is the only class it raises for this, since 1.2.)
        raise BadInput("InvalidParameter", f"{name}: {exc}") from exc
    except refused as exc:
        # Data was validated before fitting, so what is left is a params combination the
        # estimator refuses (e.g. a penalty its solver does not support): retrying cannot help.
        raise BadInput("FitFailed", f"{name} could not be fitted: {exc}") from exc
