"""The runtime serves what the estimator would predict, whichever engine it picks."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelship.serving.batching import BatchingExecutor
from modelship.serving.runtime import build_runtime

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
DIABETES_X, DIABETES_Y = load_diabetes(return_X_y=True)


@pytest.mark.parametrize(
    ("estimator", "engine"),
    [
        (LogisticRegression(max_iter=1000), "numpy"),
        (make_pipeline(StandardScaler(), LogisticRegression()), "numpy"),
        (RandomForestClassifier(30, random_state=0), "numpy"),
        (ExtraTreesClassifier(30, random_state=0), "numpy"),
        (KNeighborsClassifier(), "sklearn"),
    ],
)
def test_classifiers_match_scikit_learn(estimator: Any, engine: str) -> None:
    for y in (IRIS_Y, IRIS_Y == 2):  # multiclass and binary
        estimator.fit(IRIS_X, y)
        runtime = build_runtime(estimator, ["a", "b", "c", "d"], "classification", IRIS_X[::4])

        prediction = runtime.predict(IRIS_X, proba=True)

        assert runtime.engine == engine
        assert prediction.labels.tolist() == estimator.predict(IRIS_X).tolist()
        np.testing.assert_allclose(prediction.proba, estimator.predict_proba(IRIS_X), atol=1e-12)
        assert prediction.class_index is not None
        assert (runtime.classes[prediction.class_index] == prediction.labels).all()


@pytest.mark.parametrize(
    "estimator", [LinearRegression(), Ridge(), RandomForestRegressor(20, random_state=0)]
)
def test_regressors_match_scikit_learn(estimator: Any) -> None:
    estimator.fit(DIABETES_X, DIABETES_Y)
    names = [f"x{i}" for i in range(DIABETES_X.shape[1])]
    runtime = build_runtime(estimator, names, "regression", DIABETES_X[::4])

    assert runtime.engine == "numpy"
    np.testing.assert_allclose(runtime.predict(DIABETES_X).labels, estimator.predict(DIABETES_X))


def test_string_class_labels() -> None:
    labels = np.array(["setosa", "versicolor", "virginica"])[IRIS_Y]
    estimator = LogisticRegression(max_iter=1000).fit(IRIS_X, labels)
    runtime = build_runtime(estimator, ["a", "b", "c", "d"], "classification", IRIS_X[::4])
    assert runtime.predict(IRIS_X[[0, 100]]).labels.tolist() == ["setosa", "virginica"]


def test_feature_count_mismatch_is_refused() -> None:
    estimator = LogisticRegression(max_iter=1000).fit(IRIS_X, IRIS_Y)
    with pytest.raises(ValueError, match="expects 4 features"):
        build_runtime(estimator, ["a", "b"], "classification", IRIS_X[:0, :2])


def test_batcher_groups_concurrent_requests_into_one_call() -> None:
    estimator = RandomForestClassifier(30, random_state=0).fit(IRIS_X, IRIS_Y)
    runtime = build_runtime(estimator, ["a", "b", "c", "d"], "classification", IRIS_X[::4])
    calls: list[int] = []

    async def scenario() -> list[Any]:
        batcher = BatchingExecutor(runtime, max_batch_rows=256, on_call=calls.append)
        try:
            return await asyncio.gather(*(batcher.run(IRIS_X[i : i + 1], True) for i in range(40)))
        finally:
            await batcher.close()

    results = asyncio.run(scenario())

    assert [r.labels.tolist() for r in results] == [[y] for y in estimator.predict(IRIS_X[:40])]
    assert sum(calls) == 40
    assert len(calls) < 40  # requests that queued while the model was busy shared a call


def test_batcher_predicts_a_lone_request_for_a_cheap_model_on_the_loop() -> None:
    """A group of one gains nothing from the worker thread; a cheap model's lone request is
    predicted on the loop (no two thread wake-ups), a group still in the worker thread."""
    estimator = LogisticRegression(max_iter=1000).fit(IRIS_X, IRIS_Y)
    runtime = build_runtime(estimator, ["a", "b", "c", "d"], "classification", IRIS_X[::4])
    threads: list[int] = []

    class Recording:
        single_row_seconds = runtime.single_row_seconds

        def predict(self, rows: np.ndarray, proba: bool = False) -> Any:
            threads.append(threading.get_ident())
            return runtime.predict(rows, proba)

    async def scenario(inline_single: bool) -> tuple[Any, list[Any]]:
        batcher = BatchingExecutor(
            Recording(),  # type: ignore[arg-type]
            max_batch_rows=256,
            on_call=lambda _: None,
            inline_single=inline_single,
        )
        try:
            alone = await batcher.run(IRIS_X[:1], True)
            group = await asyncio.gather(*(batcher.run(IRIS_X[i : i + 1], True) for i in range(8)))
            return alone, group
        finally:
            await batcher.close()

    for inline_single in (True, False):
        threads.clear()
        loop_thread = threading.get_ident()  # asyncio.run runs the loop on this thread
        alone, group = asyncio.run(scenario(inline_single))
        assert alone.labels.tolist() == estimator.predict(IRIS_X[:1]).tolist()
        assert [g.labels.tolist() for g in group] == [[y] for y in estimator.predict(IRIS_X[:8])]
        assert (threads[0] == loop_thread) is inline_single
        assert any(t != loop_thread for t in threads[1:])  # the group: the worker thread
