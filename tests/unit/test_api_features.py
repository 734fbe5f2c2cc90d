"""`spec.dataset.features` takes bare names (today's meaning) and typed objects, checked clearly."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from modelship.api.v1alpha1 import FeatureSpec, ModelSpec


def spec(features: list[Any], algorithm: str = "hist_gradient_boosting", **dataset: Any) -> Any:
    return {
        "task": "classification",
        "dataset": {"uri": "file:///data/churn.csv", "target": "churned", "features": features}
        | dataset,
        "algorithm": {"name": algorithm},
    }


def test_bare_names_keep_meaning_numeric_untyped() -> None:
    model = ModelSpec.model_validate(spec(["age", "income"], "random_forest"))
    assert model.dataset.typed is False
    assert model.dataset.feature_names() == ["age", "income"]
    assert model.to_wire()["dataset"]["features"] == ["age", "income"]


def test_typed_features_round_trip_on_the_wire() -> None:
    features = [
        "tenure",
        {"name": "age", "type": "numeric", "impute": "none"},
        {"name": "income", "impute": "constant", "fillValue": 0},
        {"name": "city", "type": "categorical", "maxCategories": 5},
        {"name": "plan", "type": "categorical", "categories": ["a", "b"], "onUnknown": "reject"},
    ]
    model = ModelSpec.model_validate(spec(features, missingValues=["", "?"]))
    assert model.dataset.typed
    specs = model.dataset.feature_specs()
    assert specs is not None
    assert [s.type for s in specs] == [
        "numeric",
        "numeric",
        "numeric",
        "categorical",
        "categorical",
    ]
    assert specs[0].numeric_impute == "median"
    assert specs[4].unknown_policy == "reject"
    assert model.dataset.missing_vocabulary == ["", "?"]
    again = ModelSpec.model_validate(model.to_wire())
    assert again == model


def test_default_missing_vocabulary() -> None:
    model = ModelSpec.model_validate(spec([{"name": "city", "type": "categorical"}]))
    assert model.dataset.missing_vocabulary == ["", "NA", "N/A", "null", "NaN", "None"]


@pytest.mark.parametrize(
    ("features", "extra", "message"),
    [
        pytest.param(["age", {"name": "age"}], {}, "'age' listed twice", id="duplicate"),
        pytest.param(["churned"], {}, "target 'churned' cannot be a feature", id="target"),
        pytest.param(
            [{"name": "age", "categories": ["a"]}],
            {},
            "categories applies to categorical",
            id="categories-on-numeric",
        ),
        pytest.param(
            [{"name": "age", "maxCategories": 3}],
            {},
            "maxCategories applies to categorical",
            id="max-categories-on-numeric",
        ),
        pytest.param(
            [{"name": "c", "type": "categorical", "impute": "mean"}],
            {},
            "impute applies to numeric",
            id="impute-on-categorical",
        ),
        pytest.param(
            [{"name": "age", "impute": "constant"}],
            {},
            "impute constant needs fillValue",
            id="constant-without-value",
        ),
        pytest.param(
            [{"name": "age", "fillValue": 1}],
            {},
            "fillValue is used only with impute constant",
            id="value-without-constant",
        ),
        pytest.param(
            [{"name": "c", "type": "categorical", "categories": ["a", "a"]}],
            {},
            "categories repeat 'a'",
            id="repeated-category",
        ),
        pytest.param(
            [{"name": "c", "type": "categorical", "categories": ["__missing__"]}],
            {},
            "reserved for missing",
            id="reserved-category",
        ),
        pytest.param(
            [{"name": "c", "type": "categorical", "categories": ["NA", "b"]}],
            {},
            "'NA' are also listed in missingValues",
            id="category-is-missing",
        ),
        pytest.param(
            [{"name": "c", "type": "categorical", "maxCategories": 1}],
            {},
            "greater than or equal to 2",
            id="max-categories-one",
        ),
        pytest.param([{"name": "c", "type": "text"}], {}, "'numeric' or 'categorical'", id="type"),
        pytest.param([{"name": "c", "colour": "red"}], {}, "Extra inputs", id="unknown-field"),
    ],
)
def test_refusals_name_the_feature(
    features: list[Any], extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelSpec.model_validate(spec(features, **extra))


def test_impute_none_needs_an_estimator_that_handles_gaps() -> None:
    features = [{"name": "age", "impute": "none"}]
    ModelSpec.model_validate(spec(features, "hist_gradient_boosting"))
    with pytest.raises(ValidationError, match="'age' has impute none, but logistic_regression"):
        ModelSpec.model_validate(spec(features, "logistic_regression"))


def test_feature_spec_defaults() -> None:
    feature = FeatureSpec(name="city", type="categorical")
    assert (feature.unknown_policy, feature.max_categories, feature.categories) == (
        "ignore",
        None,
        None,
    )
