"""The typed request shortcut (`serving.typed_fast`) takes only what it can answer exactly.

For every request below, ordinary or odd, the shortcut either declines (None) or gives the
general path's numbers and positions bit for bit; and the served decoding (shortcut first)
answers exactly what the general decoding answers: the same matrix, drift rows and unknown
counts, or the same 400 naming column and value. The check at load turns the shortcut off
when it would disagree on the version's held-out rows.
"""

from __future__ import annotations

import copy
import logging
import random
from typing import Any

import numpy as np
import pytest

from modelship.api.v1alpha1 import MISSING_CATEGORY, FeatureSpec
from modelship.contracts.features import CategoricalStep, FeaturePlan
from modelship.serving import typed_codec
from modelship.serving.errors import InvalidInputError
from modelship.serving.features import ServedFeatures, wire_request
from modelship.serving.typed_fast import FastTyped, cell_table
from modelship.training.preprocess import fit_plan
from modelship.training.reference import typed_profile

MISSING = ["", "NA"]
SPECS = [
    FeatureSpec(name="age", impute="median"),
    FeatureSpec(name="score", impute="none"),
    FeatureSpec(name="city", type="categorical", max_categories=3),
    FeatureSpec(name="plan", type="categorical", categories=["basic", "plus"], on_unknown="reject"),
    FeatureSpec(name="card", type="categorical"),
]
LIMIT = 64


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
        "city": labels(["north", "south", "east", "west", "far", MISSING_CATEGORY]),
        "plan": labels(["basic", "plus", MISSING_CATEGORY]),
        "card": labels(["yes", "no"]),
    }


def served(encoding: Any) -> ServedFeatures:
    train = table(300, 7)
    plan = fit_plan(SPECS, train, MISSING, encoding)
    profile = {f.name: f for f in typed_profile(plan, train, 5).features}
    return ServedFeatures.build(plan, profile, LIMIT)


def general(features: ServedFeatures, payload: dict[str, Any]) -> Any:
    """What the general path answers: (matrix, drift rows, unknown, outputs) or the refusal."""
    try:
        decoded = typed_codec.decode_v2(payload, features.schema, True, 50)
        encoded = features.encode(decoded.columns)
    except InvalidInputError as error:
        return type(error), str(error)
    return encoded.matrix, encoded.drift_rows, encoded.unknown, decoded.outputs


def as_served(features: ServedFeatures, payload: dict[str, Any]) -> Any:
    try:
        request = features.decode_v2(payload, True, 50)
    except InvalidInputError as error:
        return type(error), str(error)
    encoded = request.encoded
    return encoded.matrix, encoded.drift_rows, encoded.unknown, request.outputs


def same(a: Any, b: Any) -> bool:
    if len(a) == 2:  # a refusal
        return bool(a == b)
    return (
        len(b) == 4
        and np.array_equal(a[0], b[0], equal_nan=True)
        and np.array_equal(a[1], b[1], equal_nan=True)
        and a[2:] == b[2:]
    )


def good(n: int = 4, seed: int = 11) -> dict[str, Any]:
    rows = table(n, seed)
    payload = wire_request(rows, served("onehot").schema)
    payload["outputs"] = [{"name": "predict"}, {"name": "predict_proba"}]
    return payload


def tensor(payload: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in payload["inputs"] if t["name"] == name)
    return found


def mutations() -> list[tuple[str, Any]]:
    """Each a way of changing a good request: what the issue refuses, and what it accepts."""

    def cell(name: str, row: int, value: Any) -> Any:
        def change(p: dict[str, Any]) -> None:
            tensor(p, name)["data"][row] = value

        return change

    def field(name: str, key: str, value: Any) -> Any:
        def change(p: dict[str, Any]) -> None:
            tensor(p, name)[key] = value

        return change

    def drop(name: str) -> Any:
        return lambda p: p["inputs"].remove(tensor(p, name))

    def twice(name: str) -> Any:
        def change(p: dict[str, Any]) -> None:
            p["inputs"][0 if name != p["inputs"][0]["name"] else 1] = copy.deepcopy(tensor(p, name))

        return change

    return [
        ("as is", lambda p: None),
        ("feature missing", drop("city")),
        ("feature twice", twice("age")),
        ("categorical twice", twice("plan")),
        ("unknown name", field("card", "name", "colour")),
        ("name not text", field("card", "name", ["card"])),
        ("unequal lengths", lambda p: tensor(p, "score")["data"].pop() or None),
        ("declared shape off", field("age", "shape", [3])),
        ("shape [n, 1]", field("age", "shape", [4, 1])),
        ("shape of bool", field("age", "shape", [True])),
        ("float where a category is expected", cell("city", 1, 1.5)),
        ("integer category", cell("city", 1, 3)),
        ("bool category", cell("card", 0, True)),
        ("unknown category, ignore", cell("city", 2, "atlantis")),
        ("unknown category, reject", cell("plan", 2, "gold")),
        ("category with spaces", cell("city", 0, "  north ")),
        ("missing value text", cell("city", 3, "NA")),
        ("missing value with spaces", cell("card", 3, " NA ")),
        ("null category", cell("plan", 0, None)),
        ("the missing category's own name", cell("card", 1, MISSING_CATEGORY)),
        ("over-long cell", cell("city", 0, "\U0001f600" * 17)),
        ("cell at the limit", cell("city", 0, "\U0001f600" * 16)),
        ("invalid UTF-8 bytes", cell("city", 0, b"\xff\xfe")),
        ("unhashable cell", cell("card", 0, ["yes"])),
        ("nested data", field("age", "data", [[1.0], [2.0], [3.0], [4.0]])),
        ("bool number", cell("age", 0, True)),
        ("text number", cell("score", 1, "2.5")),
        ("infinity", cell("score", 1, float("inf"))),
        ("minus infinity", cell("age", 2, float("-inf"))),
        ("integer beyond float64", cell("age", 2, 10**400)),
        ("integer number", cell("age", 2, 41)),
        ("null number", cell("score", 0, None)),
        ("FP32 numbers", field("age", "datatype", "FP32")),
        ("INT64 numbers", field("score", "datatype", "INT64")),
        ("numbers as BYTES", field("age", "datatype", "BYTES")),
        ("categories as FP64", field("card", "datatype", "FP64")),
        ("unsupported datatype", field("card", "datatype", "STRING")),
        ("no data", lambda p: tensor(p, "age").pop("data") and None),
        ("data not a list", field("card", "data", "yes")),
        ("too many rows", lambda p: None),  # with max_rows below the rows (see the test)
        ("bad outputs", lambda p: p.update(outputs=[{"name": "explain"}])),
        ("request id", lambda p: p.update(id="r-1")),
        ("input not an object", lambda p: p["inputs"].append("age")),
        ("inputs not a list", lambda p: p.update(inputs={"age": 1})),
    ]


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
@pytest.mark.parametrize(("what", "change"), mutations(), ids=[m[0] for m in mutations()])
def test_served_decoding_answers_what_the_general_path_answers(
    encoding: Any, what: str, change: Any
) -> None:
    features = served(encoding)
    with_fast = features.with_fast_path(table(40, 3))
    assert with_fast.fast is not None
    payload = good()
    change(payload)
    if what == "too many rows":
        payload["inputs"] = [
            {**t, "data": t["data"] * 20, "shape": [80]} for t in payload["inputs"]
        ]
    expected = general(features, payload)
    assert same(as_served(with_fast, payload), expected), what
    taken = with_fast.fast.take(payload, 50)
    if taken is not None:  # taken: the general path's very numbers and positions
        inputs_only = {"inputs": payload["inputs"]}
        decoded = typed_codec.decode_v2(inputs_only, features.schema, True, 50)
        assert np.array_equal(taken[0], features.transform.numbers(decoded.columns), equal_nan=True)
        assert np.array_equal(taken[1], features.transform.positions(decoded.columns))
    if what in ("as is", "missing value text", "null category", "integer number"):
        assert taken is not None, f"{what}: the common form should be taken"


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
def test_random_requests_agree_cell_by_cell(encoding: Any) -> None:
    """Many requests mixing known, unknown, missing and odd cells, one to twenty rows."""
    features = served(encoding)
    with_fast = features.with_fast_path(table(40, 3))
    rng = random.Random(5)
    odd_cells = [None, "", "NA", " NA", "north ", "atlantis", "gold", 1, 2.5, True, "x" * 65]
    numbers = [None, 0, -3, 2.5, float("nan"), float("inf"), True, "1"]
    taken = 0
    for _ in range(300):
        payload = good(rng.randint(1, 20), rng.randint(0, 10_000))
        for item in payload["inputs"]:
            for row in range(len(item["data"])):
                if rng.random() < 0.04:
                    pool = numbers if item["datatype"] == "FP64" else odd_cells
                    item["data"][row] = rng.choice(pool)
        assert same(as_served(with_fast, payload), general(features, payload))
        taken += with_fast.fast.take(payload, 50) is not None  # type: ignore[union-attr]
    assert 30 < taken < 300  # both ways were exercised


def steps(encoding: Any) -> list[CategoricalStep]:
    return [s for s in served(encoding).plan.features if isinstance(s, CategoricalStep)]


def test_the_cell_table_holds_only_cells_that_need_no_further_rule() -> None:
    step = CategoricalStep(
        name="city", encoding="ordinal", on_unknown="ignore",
        vocabulary=["north", " padded", "NA", "x" * 13, MISSING_CATEGORY],
        kept=["north", " padded", "NA", "x" * 13, MISSING_CATEGORY], counts=[1, 1, 1, 1, 1],
    )  # fmt: skip
    cells = cell_table(step, frozenset({"", "NA", " ?"}), 12)
    # " padded" is stripped by the general path before the lookup, "NA" means missing, thirteen
    # bytes are over the limit, " ?" is never met unstripped: none is a key of its own.
    assert cells == {"north": 0, MISSING_CATEGORY: 4, None: 4, "": 4, "NA": 4}
    no_missing = step.model_copy(update={"vocabulary": ["north"], "kept": ["north"], "counts": [1]})
    assert cell_table(no_missing, frozenset({"", "NA"}), 8) == {"north": 0}


def test_a_shortcut_that_disagrees_on_held_out_rows_is_not_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    features = served("onehot")
    held_out = table(40, 3)
    assert features.with_fast_path(held_out).fast is not None

    class Wrong(FastTyped):
        def take(self, payload: dict[str, Any], max_rows: int) -> Any:
            taken = super().take(payload, max_rows)
            return None if taken is None else (taken[0] + 1.0, taken[1])

    import modelship.serving.features as module

    original = module.FastTyped
    module.FastTyped = Wrong  # type: ignore[misc]
    try:
        with caplog.at_level(logging.WARNING):
            assert features.with_fast_path(held_out).fast is None
    finally:
        module.FastTyped = original  # type: ignore[misc]
    assert "disagreed" in caplog.text


def test_held_out_rows_the_shortcut_never_takes_leave_it_off() -> None:
    features = served("ordinal")
    held_out = table(5, 3)
    held_out["city"] = np.array(["atlantis"] * 5, dtype=object)  # unknown in every row
    assert features.with_fast_path(held_out).fast is None
    assert features.with_fast_path({k: v[:0] for k, v in held_out.items()}).fast is None


def test_a_plan_of_numbers_only_or_categories_only(tmp_path: Any) -> None:
    for names in (["age", "score"], ["city", "plan", "card"]):
        specs = [s for s in SPECS if s.name in names]
        train = {k: v for k, v in table(300, 7).items() if k in names}
        plan: FeaturePlan = fit_plan(specs, train, MISSING, "onehot")
        profile = {f.name: f for f in typed_profile(plan, train, 5).features}
        features = ServedFeatures.build(plan, profile, LIMIT)
        held_out = {k: v for k, v in table(20, 4).items() if k in names}
        with_fast = features.with_fast_path(held_out)
        assert with_fast.fast is not None
        payload = wire_request(held_out, features.schema)
        assert same(as_served(with_fast, payload), general(features, payload))
