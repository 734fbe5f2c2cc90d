"""Direct prediction for estimators whose maths is a few array operations.

scikit-learn spends ~150 µs of a ~190 µs single-row `LogisticRegression.predict` re-validating
input that the server has already validated (shape, dtype, finiteness). For linear models, with
an optional StandardScaler in front, the prediction is a dot product, so we compute it directly.
A RandomForest(100) spends ~6 ms on one row, almost all of it validating the input again for each
tree and dispatching the trees through joblib; walking the fitted trees (`tree_.predict`, the
same Cython code scikit-learn ends in) on one float32 copy of the input costs ~0.35 ms.
A compiled predictor is only ever used after `runtime.build_runtime` has checked that it gives
the same answers as the estimator itself on the version's held-out rows; anything we do not
recognise keeps using scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

Array = NDArray[np.float64]
Transform = Callable[[Array], Array]
Scores = Callable[[Array], Array]
"""Classifier: (n, k) class probabilities. Regressor: (n,) predicted values."""

_LINEAR_REGRESSORS = (LinearRegression, Ridge, Lasso, ElasticNet)
_FOREST_CLASSIFIERS = (RandomForestClassifier, ExtraTreesClassifier)
_FOREST_REGRESSORS = (RandomForestRegressor, ExtraTreesRegressor)


def compile_scores(estimator: Any) -> Scores | None:
    """A numpy function equivalent to predict_proba (classifiers) or predict (regressors)."""
    steps: list[Any] = (
        [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    )
    transforms: list[Transform] = []
    for step in steps[:-1]:
        transform = _compile_transform(step)
        if transform is None:
            return None
        transforms.append(transform)
    final = _compile_final(steps[-1])
    if final is None:
        return None

    def scores(x: Array) -> Array:
        for transform in transforms:
            x = transform(x)
        return final(x)

    return scores


def _compile_transform(step: Any) -> Transform | None:
    if step is None or step == "passthrough":
        return lambda x: x
    if isinstance(step, StandardScaler):
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None

        def standardize(x: Array) -> Array:
            if mean is not None:
                x = x - mean
            if scale is not None:
                x = x / scale
            return x

        return standardize
    return None


def _compile_final(step: Any) -> Scores | None:
    if isinstance(step, LogisticRegression):
        return _logistic(np.asarray(step.coef_, dtype=np.float64), step.intercept_)
    if type(step) in _LINEAR_REGRESSORS and np.ndim(step.coef_) == 1:
        coef = np.asarray(step.coef_, dtype=np.float64)
        intercept = float(step.intercept_)
        return lambda x: x @ coef + intercept
    if type(step) in _FOREST_CLASSIFIERS and step.n_outputs_ == 1:
        return _forest([tree.tree_ for tree in step.estimators_], int(step.n_classes_))
    if type(step) in _FOREST_REGRESSORS and step.n_outputs_ == 1:
        return _forest([tree.tree_ for tree in step.estimators_], None)
    return None


def _forest(trees: list[Any], n_classes: int | None) -> Scores:
    """Average of the trees' leaf values: class fractions (classifier) or values (regressor)."""
    columns = slice(0, n_classes) if n_classes is not None else 0

    def scores(x: Array) -> Array:
        # Trees split on float32 thresholds; scikit-learn converts the input the same way.
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        total = np.array(trees[0].predict(x32)[:, columns], dtype=np.float64)
        for tree in trees[1:]:
            total += tree.predict(x32)[:, columns]
        total /= len(trees)
        return total

    return scores


def _logistic(coef: Array, intercept: Array) -> Scores:
    weights = np.ascontiguousarray(coef.T)
    bias = np.asarray(intercept, dtype=np.float64)
    if weights.shape[1] == 1:
        # Binary: one logit for the positive class, as scikit-learn's _predict_proba_lr.
        def binary(x: Array) -> Array:
            positive = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
            return np.hstack((1.0 - positive, positive))

        return binary

    def multinomial(x: Array) -> Array:
        logits = x @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    return multinomial
