"""Shadow agreement, row by row, on Open Inference Protocol answers."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.contracts.serving_metrics import SHADOW_TOLERANCE
from modelship.router.compare import IncomparableError, compare


def v2(labels: list[Any], proba: list[float] | None = None, datatype: str = "INT64") -> Any:
    outputs: list[dict[str, Any]] = [
        {"name": "predict", "datatype": datatype, "shape": [len(labels)], "data": labels}
    ]
    if proba is not None:
        shape = [len(labels), len(proba) // len(labels)]
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": shape, "data": proba})
    return {"model_name": "iris", "model_version": "3", "outputs": outputs}


def test_labels_agree_row_by_row_and_probabilities_do_not_decide() -> None:
    production = v2([0, 1, 2], [0.9, 0.1, 0.2, 0.8, 0.4, 0.6])
    shadow = v2([0, 2, 2], [0.7, 0.3, 0.4, 0.6, 0.1, 0.9])
    assert compare(production, shadow, SHADOW_TOLERANCE) == (2, 1)


def test_string_labels_must_be_equal() -> None:
    production = v2(["setosa", "virginica"], datatype="BYTES")
    assert compare(production, v2(["setosa", "versicolor"], datatype="BYTES"), 0.05) == (1, 1)


def test_regression_values_agree_within_the_relative_tolerance() -> None:
    production = v2([100.0, 100.0, 0.0, -10.0], datatype="FP64")
    shadow = v2([104.9, 106.0, 0.0, -10.4], datatype="FP64")
    assert compare(production, shadow, SHADOW_TOLERANCE) == (3, 1)


def test_without_a_predict_output_every_output_decides() -> None:
    production = {"outputs": [{"name": "y", "shape": [2, 2], "data": [1.0, 2.0, 3.0, 4.0]}]}
    shadow = {"outputs": [{"name": "y", "shape": [2, 2], "data": [1.0, 2.0, 3.0, 9.0]}]}
    assert compare(production, shadow, SHADOW_TOLERANCE) == (1, 1)


def test_a_shadow_answer_of_another_shape_disagrees_on_every_row() -> None:
    production = v2([0, 1, 2])
    assert compare(production, v2([0, 1]), SHADOW_TOLERANCE) == (0, 3)
    assert compare(production, {"outputs": []}, SHADOW_TOLERANCE) == (0, 3)


def test_v1_predictions() -> None:
    assert compare({"predictions": [0, 1]}, {"predictions": [0, 0]}, 0.05) == (1, 1)
    assert compare({"predictions": [1.0]}, {"predictions": [1.01]}, 0.05) == (1, 0)


def test_an_answer_that_is_not_a_prediction_cannot_be_compared() -> None:
    with pytest.raises(IncomparableError):
        compare({"error": "boom"}, v2([0]), SHADOW_TOLERANCE)
    with pytest.raises(IncomparableError):
        compare({"outputs": [{"name": "predict", "shape": [2], "data": [1, 2, 3]}]}, v2([0]), 0.05)
