"""The fitted feature plan equals scikit-learn's ColumnTransformer, edge by edge.

Generated tables (seeded) with every edge the issue lists: a column missing in every training
row, unseen categories, a single category, maxCategories pooling (with ties), constant impute,
impute none keeping NaN, a fixed vocabulary, and `reject`. The plan is fitted by our code, the
reference by scikit-learn from the same spec; both transform the same held-out rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelship.api.v1alpha1 import MISSING_CATEGORY, FeatureSpec
from modelship.contracts.features import FeaturePlan, UnknownCategoryError
from modelship.training.errors import BadInput, TrainerError
from modelship.training.plan_check import check_plan, reference_transformer, sklearn_matrix
from modelship.training.preprocess import fit_plan, native_categorical_mask

MISSING = ["", "NA"]


def table(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)

    def gaps(values: Any, rate: float) -> Any:
        return np.where(rng.random(n) < rate, np.nan, values)

    def labels(choices: list[str], p: list[float]) -> Any:
        return np.array(rng.choice(choices, size=n, p=p), dtype=object)

    return {
        "median": gaps(rng.normal(50, 10, n), 0.2),
        "mean": gaps(rng.exponential(3.0, n), 0.1),
        "empty": np.full(n, np.nan),
        "constant": gaps(rng.integers(0, 5, n).astype(float), 0.3),
        "none": gaps(rng.normal(size=n), 0.25),
        "city": labels(
            ["north", "south", "east", "west", "centre", MISSING_CATEGORY],
            [0.3, 0.25, 0.15, 0.15, 0.1, 0.05],
        ),
        "ties": labels(["a", "b", "c", "d"], [0.25, 0.25, 0.25, 0.25]),
        "single": labels(["only"], [1.0]),
        "fixed": labels(["p", "q", "r", MISSING_CATEGORY], [0.4, 0.3, 0.2, 0.1]),
        "strict": labels(["yes", "no", MISSING_CATEGORY], [0.5, 0.4, 0.1]),
        "allgone": labels([MISSING_CATEGORY], [1.0]),
    }


SPECS = [
    FeatureSpec(name="median"),
    FeatureSpec(name="mean", impute="mean"),
    FeatureSpec(name="empty", impute="median"),
    FeatureSpec(name="constant", impute="constant", fill_value=-7.5),
    FeatureSpec(name="none", impute="none"),
    FeatureSpec(name="city", type="categorical", max_categories=4),
    FeatureSpec(name="ties", type="categorical", max_categories=3),
    FeatureSpec(name="single", type="categorical"),
    FeatureSpec(name="fixed", type="categorical", categories=["q", "p", "s"]),
    FeatureSpec(name="strict", type="categorical", on_unknown="reject"),
    FeatureSpec(name="allgone", type="categorical"),
]


def split(columns: dict[str, Any], at: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        {k: v[:at] for k, v in columns.items()},
        {k: v[at:].copy() for k, v in columns.items()},
    )


def held_out_with_surprises(held_out: dict[str, Any]) -> dict[str, Any]:
    """Unseen categories (ignored ones), a gap everywhere, in the held-out rows only."""
    held_out["city"][:3] = "atlantis"
    held_out["single"][3:6] = "another"
    held_out["ties"][6] = MISSING_CATEGORY
    held_out["allgone"][7] = "suddenly"
    held_out["median"][8] = np.nan
    return held_out


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plan_equals_column_transformer(encoding: Any, seed: int) -> None:
    train, held_out = split(table(400, seed), 300)
    held_out = held_out_with_surprises(held_out)
    plan = fit_plan(SPECS, train, MISSING, encoding)

    ours = plan.compile()(held_out)
    reference = reference_transformer(SPECS, train, encoding)
    theirs = np.asarray(reference.transform(sklearn_matrix(SPECS, held_out)), dtype=np.float64)

    assert ours.shape == theirs.shape == (100, len(plan.output_columns))
    assert np.array_equal(ours, theirs, equal_nan=True)
    check_plan(plan, SPECS, train, held_out)  # the trainer's own gate agrees


def test_edges_behave_as_specified() -> None:
    train, held_out = split(table(400, 3), 300)
    held_out = held_out_with_surprises(held_out)
    plan = fit_plan(SPECS, train, MISSING, "onehot")
    steps = {step.name: step for step in plan.features}
    out = plan.compile()(held_out)
    column = {name: i for i, name in enumerate(plan.output_columns)}

    assert steps["empty"].fill == 0.0  # all missing: nothing learned, filled with 0
    assert np.all(out[:, column["empty"]] == 0.0)
    assert steps["constant"].fill == -7.5
    nan_rows = np.isnan(held_out["none"])
    assert nan_rows.any() and np.all(np.isnan(out[nan_rows, column["none"]]))  # kept
    assert steps["median"].fill == pytest.approx(float(np.nanmedian(train["median"])))
    # Unseen categories are ignored: no one-hot column set.
    city = [i for name, i in column.items() if name.startswith("city=")]
    assert np.all(out[:3][:, city] == 0)
    # maxCategories 4: three kept, the rest pooled into one column.
    assert len(city) == 4 and plan.output_columns[city[-1]] == "city=__other__"
    # Missing is a category of its own, even when the training rows had no gap.
    assert MISSING_CATEGORY in steps["single"].vocabulary  # type: ignore[union-attr]
    # A fixed vocabulary keeps its order; missing comes last.
    assert steps["fixed"].vocabulary == ["q", "p", "s", MISSING_CATEGORY]  # type: ignore[union-attr]


def test_reject_refuses_an_unknown_category_naming_column_and_value() -> None:
    train, held_out = split(table(200, 4), 150)
    plan = fit_plan(SPECS, train, MISSING, "ordinal")
    held_out["strict"][2] = "maybe"
    with pytest.raises(UnknownCategoryError, match="feature 'strict': unknown category 'maybe'"):
        plan.compile()(held_out)
    # The trainer's check compares on the rows both sides accept.
    check_plan(plan, SPECS, train, held_out)


def test_reject_with_fixed_categories_refuses_training_values_outside() -> None:
    specs = [FeatureSpec(name="fixed", type="categorical", categories=["p"], on_unknown="reject")]
    train = {"fixed": np.array(["p", "q"], dtype=object)}
    with pytest.raises(BadInput, match="'fixed' has 'q' in the training rows"):
        fit_plan(specs, train, MISSING, "onehot")


def test_a_plan_that_disagrees_fails_loudly() -> None:
    train, held_out = split(table(300, 5), 200)
    plan = fit_plan(SPECS, train, MISSING, "onehot")
    document = plan.model_dump(by_alias=True)
    document["features"][0]["fill"] += 1.0  # not what SimpleImputer learned
    wrong = FeaturePlan.model_validate(document)
    with pytest.raises(TrainerError, match="disagrees with scikit-learn's ColumnTransformer"):
        check_plan(wrong, SPECS, train, held_out)


def test_plan_is_plain_json_and_round_trips() -> None:
    train, held_out = split(table(300, 6), 200)
    plan = fit_plan(SPECS, train, MISSING, "ordinal")
    again = FeaturePlan.model_validate_json(plan.to_json())
    assert again == plan
    assert np.array_equal(again.compile()(held_out), plan.compile()(held_out), equal_nan=True)


def test_newer_plan_format_is_refused() -> None:
    plan = fit_plan(SPECS[:1], {"median": np.array([1.0, 2.0])}, MISSING, "onehot")
    document = plan.model_dump(by_alias=True) | {"formatVersion": 99}
    with pytest.raises(ValueError, match="newer than this reader"):
        FeaturePlan.model_validate(document)


def test_native_categorical_mask_marks_ordinal_categories_only() -> None:
    train, _ = split(table(200, 7), 150)
    ordinal = fit_plan(SPECS, train, MISSING, "ordinal")
    assert native_categorical_mask(ordinal) == [False] * 5 + [True] * 6
    assert native_categorical_mask(fit_plan(SPECS[:5], train, MISSING, "ordinal")) is None
