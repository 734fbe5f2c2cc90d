"""The model runtime: a loaded estimator behind one `predict` call, with no HTTP in sight.

Input reaching the runtime is already a finite float64 array of shape (n, features) in the
model's feature order, so scikit-learn's own validation is redundant: we either use a compiled
numpy predictor (see fastpath) or call scikit-learn with `assume_finite`. Either way the runtime
proves at load time, on the version's held-out rows, that what it serves agrees with the estimator.
An XGBoost or LightGBM version is its library's booster already (catalog.boosters): it predicts
from the numpy rows directly, one native call per batch, and is its own reference.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from sklearn import config_context

from modelship.catalog.boosters import BoosterClassifier, BoosterModel
from modelship.serving.fastpath import compile_scores
from modelship.serving.onnxpath import Outputs, compile_onnx

log = logging.getLogger(__name__)

Task = Literal["classification", "regression"]
Array = NDArray[np.float64]
# (rtol, atol) for comparing served outputs with the estimator's on the held-out rows: the
# compiled numpy path computes in float64 like scikit-learn; ONNX graphs compute in float32.
FLOAT64_TOLERANCE = (1e-9, 1e-12)
FLOAT32_TOLERANCE = (1e-5, 1e-5)


@dataclass(frozen=True, slots=True)
class Prediction:
    """What one predict call produced for n rows."""

    labels: NDArray[Any]
    """(n,) predicted class labels or regression values."""
    class_index: NDArray[np.intp] | None
    """(n,) index into `classes` for classifiers (for cheap per-class counting)."""
    proba: Array | None
    """(n, k) class probabilities when asked for (classifiers only)."""

    def rows(self, start: int, stop: int) -> Prediction:
        """The slice belonging to one request of a batch."""
        return Prediction(
            self.labels[start:stop],
            None if self.class_index is None else self.class_index[start:stop],
            None if self.proba is None else self.proba[start:stop],
        )


@dataclass(frozen=True, slots=True)
class ModelRuntime:
    """A ready-to-call model: `predict(x, proba)` on validated float64 rows."""

    features: tuple[str, ...]
    task: Task
    classes: NDArray[Any] | None
    engine: str
    """Which code path predicts: "numpy" (compiled), "onnx", "sklearn", "xgboost" or "lightgbm"."""
    single_row_seconds: float
    """Measured at load; decides whether requests are batched off the event loop."""
    _predict: Callable[[Array, bool], Prediction]

    def predict(self, x: Array, proba: bool = False) -> Prediction:
        return self._predict(x, proba)


def build_runtime(
    estimator: Any,
    features: Sequence[str],
    task: Task,
    check_rows: Array,
    *,
    onnx: bool = True,
) -> ModelRuntime:
    """Wrap an estimator, preferring a compiled predictor when it agrees on `check_rows`: the
    numpy one, else (with `onnx` and the optional extra installed) an ONNX Runtime graph."""
    width = getattr(estimator, "n_features_in_", len(features))
    if width != len(features):
        raise ValueError(f"estimator expects {width} features, metadata lists {len(features)}")
    classes = np.asarray(estimator.classes_) if task == "classification" else None
    if isinstance(estimator, BoosterModel):
        return _booster_runtime(estimator, features, task, classes)
    reference = _sklearn_predictor(estimator, classes, check_rows)
    predict, engine = reference, "sklearn"
    scores = compile_scores(estimator)
    if scores is not None and len(check_rows):
        compiled = _from_scores(scores, classes)
        if _agrees(compiled(check_rows, True), reference(check_rows, True)):
            predict, engine = compiled, "numpy"
        else:
            log.warning("compiled predictor disagrees with the estimator; using scikit-learn")
    if engine == "sklearn" and onnx and len(check_rows):
        outputs = compile_onnx(estimator, len(features), classes is not None)
        if outputs is not None:
            graph = _from_onnx(outputs, classes)
            ours, theirs = graph(check_rows, True), reference(check_rows, True)
            if not _agrees(ours, theirs, FLOAT32_TOLERANCE):
                log.warning("the ONNX graph disagrees with the estimator; using scikit-learn")
            elif not _faster(graph, reference, check_rows):
                # Converting is no promise of speed: a graph can compute densely what
                # scikit-learn does with an index or a sparse structure.
                log.info("the ONNX graph is not faster than scikit-learn; using scikit-learn")
            else:
                predict, engine = graph, "onnx"
    probe = check_rows[:1] if len(check_rows) else np.zeros((1, len(features)))
    return ModelRuntime(
        features=tuple(features),
        task=task,
        classes=classes,
        engine=engine,
        single_row_seconds=_time_one_row(predict, probe),
        _predict=predict,
    )


def _booster_runtime(
    model: BoosterModel, features: Sequence[str], task: Task, classes: NDArray[Any] | None
) -> ModelRuntime:
    """The booster's own prediction: no scikit-learn checks, no DataFrame, no DMatrix."""
    if isinstance(model, BoosterClassifier) and classes is not None:
        predict = _from_scores(model.predict_proba, classes)
    elif not isinstance(model, BoosterClassifier) and classes is None:
        predict = _from_scores(model.predict, None)
    else:
        raise ValueError(f"a {type(model).__name__} cannot serve a {task} version")
    return ModelRuntime(
        features=tuple(features),
        task=task,
        classes=classes,
        engine=model.framework,
        single_row_seconds=_time_one_row(predict, np.zeros((1, len(features)))),
        _predict=predict,
    )


def _sklearn_predictor(
    estimator: Any, classes: NDArray[Any] | None, check_rows: Array
) -> Callable[[Array, bool], Prediction]:
    if classes is None:

        def regress(x: Array, proba: bool) -> Prediction:
            with config_context(assume_finite=True):
                return Prediction(np.asarray(estimator.predict(x)).ravel(), None, None)

        return regress

    known = classes
    if hasattr(estimator, "predict_proba") and _predict_is_argmax(estimator, known, check_rows):
        # One predict_proba call serves both outputs, which halves the cost of expensive
        # models like forests.
        def classify_by_proba(x: Array, proba: bool) -> Prediction:
            with config_context(assume_finite=True):
                probabilities = np.asarray(estimator.predict_proba(x), dtype=np.float64)
            index = probabilities.argmax(axis=1)
            return Prediction(known[index], index, probabilities if proba else None)

        return classify_by_proba

    def classify(x: Array, proba: bool) -> Prediction:
        with config_context(assume_finite=True):
            labels = np.asarray(estimator.predict(x))
            probabilities = (
                np.asarray(estimator.predict_proba(x), dtype=np.float64)
                if proba and hasattr(estimator, "predict_proba")
                else None
            )
        return Prediction(labels, np.searchsorted(known, labels), probabilities)

    return classify


def _predict_is_argmax(estimator: Any, classes: NDArray[Any], check_rows: Array) -> bool:
    """Most classifiers define predict as the arg-max of predict_proba; check, don't assume."""
    rows = check_rows if len(check_rows) else np.zeros((1, estimator.n_features_in_))
    with config_context(assume_finite=True):
        by_proba = classes[np.asarray(estimator.predict_proba(rows)).argmax(axis=1)]
        return bool(np.array_equal(by_proba, np.asarray(estimator.predict(rows))))


def _from_scores(
    scores: Callable[[Array], Array], classes: NDArray[Any] | None
) -> Callable[[Array, bool], Prediction]:
    if classes is None:
        return lambda x, proba: Prediction(scores(x), None, None)

    def classify(x: Array, proba: bool) -> Prediction:
        probabilities = scores(x)
        index = probabilities.argmax(axis=1)
        return Prediction(classes[index], index, probabilities if proba else None)

    return classify


def _from_onnx(
    outputs: Outputs, classes: NDArray[Any] | None
) -> Callable[[Array, bool], Prediction]:
    if classes is None:
        return lambda x, proba: Prediction(outputs(x)[0].astype(np.float64).ravel(), None, None)

    def classify(x: Array, proba: bool) -> Prediction:
        labels, probabilities = outputs(x)
        index = np.searchsorted(classes, labels)
        return Prediction(
            classes[index], index, probabilities.astype(np.float64) if proba else None
        )

    return classify


def _agrees(
    ours: Prediction, theirs: Prediction, tolerance: tuple[float, float] = FLOAT64_TOLERANCE
) -> bool:
    """Same labels on every row (classifiers), values and probabilities within `tolerance`."""
    rtol, atol = tolerance
    if ours.class_index is not None:
        same_labels = np.array_equal(ours.labels, theirs.labels)
    else:
        same_labels = np.allclose(ours.labels, theirs.labels, rtol=rtol, atol=max(atol, 1e-9))
    if not same_labels:
        return False
    if ours.proba is None or theirs.proba is None:
        return ours.proba is None and theirs.proba is None
    return bool(np.allclose(ours.proba, theirs.proba, rtol=rtol, atol=atol))


def _faster(
    ours: Callable[[Array, bool], Prediction],
    theirs: Callable[[Array, bool], Prediction],
    check_rows: Array,
) -> bool:
    """Faster for one row and for a batch of 64 (what batching hands the model under load)."""
    batch = np.resize(check_rows, (64, check_rows.shape[1]))
    return all(
        _time_one_row(ours, rows) < _time_one_row(theirs, rows) for rows in (check_rows[:1], batch)
    )


def _time_one_row(predict: Callable[[Array, bool], Prediction], probe: Array) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        predict(probe, True)
        best = min(best, time.perf_counter() - started)
    return best
