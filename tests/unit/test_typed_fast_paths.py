"""The typed serving path's fast paths decide nothing of their own.

The codec decodes plain JSON lists (floats, ints, nulls; text and nulls) in one pass and leaves
everything else to its general path; the plan looks each categorical cell up once and builds
the matrix with a few numpy calls for all features; the served features share those lookups
with the drift monitor. Each is checked here against the straightforward meaning: per cell,
per row, per feature by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelship.api.v1alpha1 import MISSING_CATEGORY, FeatureSpec
from modelship.contracts.features import FeaturePlan, UnknownCategoryError
from modelship.serving.errors import InvalidInputError
from modelship.serving.features import ServedFeatures
from modelship.serving.typed_codec import FeatureSchema, decode_v2
from modelship.training.plan_check import reference_transformer, sklearn_matrix
from modelship.training.preprocess import fit_plan
from modelship.training.reference import typed_profile

SCHEMA = FeatureSchema(
    names=("age", "city"), categorical=frozenset({"city"}), missing=frozenset({"", "NA"}),
    max_cell_bytes=64,
)  # fmt: skip
MISSING = ["", "NA"]
SPECS = [
    FeatureSpec(name="age", impute="median"),
    FeatureSpec(name="score", impute="none"),
    FeatureSpec(name="city", type="categorical", max_categories=3),
    FeatureSpec(name="plan", type="categorical", categories=["basic", "plus"]),
    FeatureSpec(name="card", type="categorical"),
]


def body(age: Any, city: Any, age_type: str = "FP64") -> dict[str, Any]:
    n = len(city)
    return {
        "inputs": [
            {"name": "age", "datatype": age_type, "shape": [n], "data": age},
            {"name": "city", "datatype": "BYTES", "shape": [n], "data": city},
        ]
    }


def test_plain_numbers_with_nulls_and_ints_decode_as_floats_with_nan() -> None:
    decoded = decode_v2(body([41, None, 2.5], ["a", "b", "c"]), SCHEMA, True, 10)
    age = decoded.columns["age"]
    assert age.dtype == np.float64
    assert age[0] == 41.0 and np.isnan(age[1]) and age[2] == 2.5


@pytest.mark.parametrize(
    ("age", "age_type", "message"),
    [
        ([1.0, True], "FP64", None),  # numpy reads a bool beside a float as 1.0, as before
        ([True, None], "FP64", "data must be numbers or null, found True"),
        ([1.0, "2"], "FP64", "FP64 data must be numbers or null, found '2'"),
        ([1.5, None], "INT32", "data must be integers or null, found 1.5"),
        ([1e308 * 10, None], "FP64", "infinite value at row 0"),
    ],
)
def test_anything_but_plain_numbers_takes_the_general_path(
    age: list[Any], age_type: str, message: str | None
) -> None:
    if message is None:
        assert decode_v2(body(age, ["a", "b"], age_type), SCHEMA, True, 10).columns["age"][1] == 1
        return
    with pytest.raises(InvalidInputError, match=message):
        decode_v2(body(age, ["a", "b"], age_type), SCHEMA, True, 10)


def test_plain_text_is_stripped_and_missing_values_and_null_become_missing() -> None:
    decoded = decode_v2(body([1, 2, 3, 4], [" north ", "NA", None, ""]), SCHEMA, True, 10)
    assert decoded.columns["city"].tolist() == ["north"] + [MISSING_CATEGORY] * 3


def test_the_cell_limit_is_in_bytes_whatever_the_shortcut() -> None:
    # 16 four-byte characters are 64 bytes: at the limit. 17 are over it, named by row.
    at_limit = "\U0001f600" * 16
    decoded = decode_v2(body([1, 2], ["north", at_limit]), SCHEMA, True, 10)
    assert decoded.columns["city"].tolist() == ["north", at_limit]
    with pytest.raises(InvalidInputError, match="input 'city': the value at row 1"):
        decode_v2(body([1, 2], ["north", at_limit + "\U0001f600"]), SCHEMA, True, 10)
    # Long in characters but short in bytes is never refused by the shortcut's bound.
    decoded = decode_v2(body([1], ["x" * 64]), SCHEMA, True, 10)
    assert decoded.columns["city"].tolist() == ["x" * 64]


def table(n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    age[rng.random(n) < 0.2] = np.nan
    score = rng.normal(size=n)
    score[rng.random(n) < 0.2] = np.nan

    def labels(choices: list[str]) -> Any:
        return np.array(rng.choice(choices, size=n), dtype=object)

    return {
        "age": age,
        "score": score,
        "city": labels(["north", "south", "east", "west", MISSING_CATEGORY]),
        "plan": labels(["basic", "plus", MISSING_CATEGORY]),
        "card": labels(["yes", "no"]),
    }


def surprises(columns: dict[str, Any]) -> dict[str, Any]:
    columns = {k: v.copy() for k, v in columns.items()}
    columns["city"][0] = "atlantis"
    columns["plan"][1] = "gold"
    columns["card"][2] = MISSING_CATEGORY
    return columns


def mixed(plan: FeaturePlan) -> FeaturePlan:
    """The plan with its categorical steps alternating one-hot and ordinal."""
    steps, flip = [], False
    for step in plan.features:
        if step.type == "categorical":
            encoding = "ordinal" if flip else "onehot"
            step = step.model_copy(update={"encoding": encoding})
            flip = not flip
        steps.append(step)
    return plan.model_copy(update={"features": steps})


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
def test_each_row_alone_equals_its_row_of_the_batch(encoding: Any) -> None:
    plan = fit_plan(SPECS, table(300, 1), MISSING, encoding)
    held_out = surprises(table(20, 2))
    batch = plan.compile()(held_out)
    for row in range(len(batch)):
        alone = plan.compile()({k: v[row : row + 1] for k, v in held_out.items()})
        assert np.array_equal(alone, batch[row : row + 1], equal_nan=True)


def test_one_hot_and_ordinal_steps_in_one_plan_give_their_own_columns() -> None:
    train, held_out = table(300, 3), surprises(table(50, 4))
    onehot = fit_plan(SPECS, train, MISSING, "onehot")
    ordinal = fit_plan(SPECS, train, MISSING, "ordinal")
    both = mixed(onehot)
    out = both.compile()(held_out)
    expected = []
    for step in both.features:
        source = onehot if step.type != "categorical" or step.encoding == "onehot" else ordinal
        columns = source.output_columns
        matrix = source.compile()(held_out)
        at = columns.index(step.outputs[0])
        expected.append(matrix[:, at : at + len(step.outputs)])
    assert out.shape == (50, len(both.output_columns))
    assert np.array_equal(out, np.hstack(expected), equal_nan=True)


@pytest.mark.parametrize("names", [["age", "score"], ["city", "plan", "card"]])
@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
def test_plans_of_one_kind_of_feature_equal_the_column_transformer(
    names: list[str], encoding: Any
) -> None:
    specs = [spec for spec in SPECS if spec.name in names]
    train = {k: v for k, v in table(300, 5).items() if k in names}
    held_out = {k: v for k, v in surprises(table(40, 6)).items() if k in names}
    plan = fit_plan(specs, train, MISSING, encoding)
    reference = reference_transformer(specs, train, encoding)
    theirs = np.asarray(reference.transform(sklearn_matrix(specs, held_out)), dtype=np.float64)
    assert np.array_equal(plan.compile()(held_out), theirs, equal_nan=True)


def served(encoding: Any, specs: list[FeatureSpec] = SPECS) -> ServedFeatures:
    train = table(300, 7)
    plan = fit_plan(specs, train, MISSING, encoding)
    profile = {f.name: f for f in typed_profile(plan, train, 5).features}
    return ServedFeatures.build(plan, profile, 64)


def drift_by_name(features: ServedFeatures, columns: dict[str, Any]) -> tuple[Any, dict[str, int]]:
    """The drift rows as their definition reads: each value's bin looked up by name."""
    out, unknown = [], {}
    for name in features.schema.names:
        bins = features.drift_bins.get(name)
        if bins is None:
            out.append(np.asarray(columns[name], dtype=np.float64))
            continue
        last = len(bins) - 1
        codes = [bins.get(value, last) for value in columns[name].tolist()]
        out.append(np.asarray(codes, dtype=np.float64))
        unknown[name] = codes.count(last)
    return np.column_stack(out), unknown


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
def test_one_lookup_serves_the_matrix_and_the_drift_rows(encoding: Any) -> None:
    features = served(encoding)
    columns = surprises(table(30, 8))
    encoded = features.encode(columns)
    rows, unknown = drift_by_name(features, columns)
    assert np.array_equal(encoded.matrix, features.plan.compile()(columns), equal_nan=True)
    assert np.array_equal(encoded.drift_rows, rows, equal_nan=True)
    assert encoded.unknown == unknown == {"city": 1, "plan": 1, "card": 0}
    again, counted = features.drift_rows(columns)
    assert np.array_equal(again, rows, equal_nan=True) and counted == unknown


def test_reject_refuses_in_encode_while_drift_still_counts_the_value() -> None:
    specs = [*SPECS[:3], FeatureSpec(name="plan", type="categorical", on_unknown="reject")]
    features = served("onehot", specs)
    columns = {k: v for k, v in surprises(table(5, 9)).items() if k != "card"}
    with pytest.raises(InvalidInputError, match="feature 'plan': unknown category 'gold'"):
        features.encode(columns)
    with pytest.raises(UnknownCategoryError):
        features.plan.compile()(columns)
    rows, unknown = features.drift_rows(columns)
    expected, expected_unknown = drift_by_name(features, columns)
    assert np.array_equal(rows, expected, equal_nan=True) and unknown == expected_unknown
    assert unknown["plan"] == 1


def test_a_vocabulary_entry_without_a_profile_bin_counts_as_unknown() -> None:
    """The shortcut for requests without unknown values holds only while every vocabulary
    entry has its own bin; a profile lacking one still counts it in the unknown bin."""
    train = table(300, 7)
    plan = fit_plan(SPECS, train, MISSING, "ordinal")
    profile = {f.name: f for f in typed_profile(plan, train, 5).features}
    card = profile["card"]
    categories = [c for c in card.categories or [] if c != "yes"]
    profile["card"] = card.model_copy(
        update={
            "categories": categories,
            "edges": card.edges[:-1],
            "frequencies": card.frequencies[:-1],
        }
    )
    features = ServedFeatures.build(plan, profile, 64)
    columns = table(30, 8)
    encoded = features.encode(columns)
    rows, unknown = drift_by_name(features, columns)
    assert not features.vocabulary_binned
    assert np.array_equal(encoded.drift_rows, rows, equal_nan=True)
    assert encoded.unknown == unknown and unknown["card"] == list(columns["card"]).count("yes") > 0
    assert served("ordinal").vocabulary_binned
