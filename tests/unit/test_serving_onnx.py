"""The ONNX Runtime path: used for what the numpy path does not cover, and only when it agrees."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from modelship.serving.runtime import build_runtime

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
FEATURES = ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    "estimator",
    [GradientBoostingClassifier(n_estimators=50, random_state=0), SVC(probability=True)],
)
def test_classifiers_scikit_learn_predicts_slowly_are_served_by_onnx(estimator: Any) -> None:
    estimator.fit(IRIS_X, IRIS_Y)
    runtime = build_runtime(estimator, FEATURES, "classification", IRIS_X[::4])

    prediction = runtime.predict(IRIS_X, proba=True)

    assert runtime.engine == "onnx"
    assert prediction.labels.tolist() == estimator.predict(IRIS_X).tolist()
    np.testing.assert_allclose(prediction.proba, estimator.predict_proba(IRIS_X), atol=1e-5)
    assert prediction.class_index is not None
    assert (runtime.classes[prediction.class_index] == prediction.labels).all()


def test_regressors_are_served_by_onnx_within_float32_precision() -> None:
    x, y = load_diabetes(return_X_y=True)
    estimator = GradientBoostingRegressor(n_estimators=50, random_state=0).fit(x, y)
    runtime = build_runtime(estimator, [f"x{i}" for i in range(10)], "regression", x[::4])

    assert runtime.engine == "onnx"
    np.testing.assert_allclose(runtime.predict(x).labels, estimator.predict(x), rtol=1e-5)


def test_a_graph_that_disagrees_on_held_out_rows_is_not_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # skl2onnx converts k-NN, but breaks distance ties differently: probabilities differ.
    estimator = KNeighborsClassifier().fit(IRIS_X, IRIS_Y)
    with caplog.at_level(logging.WARNING, "modelship.serving.runtime"):
        runtime = build_runtime(estimator, FEATURES, "classification", IRIS_X)
    assert runtime.engine == "sklearn"
    assert "ONNX graph disagrees" in caplog.text
    np.testing.assert_array_equal(
        runtime.predict(IRIS_X, True).proba, estimator.predict_proba(IRIS_X)
    )


class Majority(ClassifierMixin, BaseEstimator):
    """A classifier skl2onnx has never heard of."""

    def fit(self, x: Any, y: Any) -> Majority:
        self.classes_, counts = np.unique(y, return_counts=True)
        self.n_features_in_ = x.shape[1]
        self._top = int(counts.argmax())
        return self

    def predict_proba(self, x: Any) -> Any:
        proba = np.zeros((len(x), len(self.classes_)))
        proba[:, self._top] = 1.0
        return proba

    def predict(self, x: Any) -> Any:
        return self.classes_[np.full(len(x), self._top)]


def test_a_model_skl2onnx_cannot_convert_stays_on_scikit_learn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    estimator = Majority().fit(IRIS_X, IRIS_Y)
    with caplog.at_level(logging.INFO, "modelship.serving.onnxpath"):
        runtime = build_runtime(estimator, FEATURES, "classification", IRIS_X[::4])
    assert runtime.engine == "sklearn"
    assert "skl2onnx cannot convert Majority" in caplog.text


def test_onnx_can_be_turned_off() -> None:
    estimator = SVC(probability=True).fit(IRIS_X, IRIS_Y)
    runtime = build_runtime(estimator, FEATURES, "classification", IRIS_X[::4], onnx=False)
    assert runtime.engine == "sklearn"
