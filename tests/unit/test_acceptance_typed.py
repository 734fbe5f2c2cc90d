"""The acceptance Job replays typed held-out rows as the tensors the server decodes."""

from __future__ import annotations

import numpy as np

from modelship.acceptance.__main__ import request_body
from modelship.api.v1alpha1 import MISSING_CATEGORY
from modelship.catalog import FeatureInfo
from modelship.serving.typed_codec import FeatureSchema, decode_v2

TYPED = [
    FeatureInfo(name="age", dtype="float64", type="numeric"),
    FeatureInfo(name="city", dtype="string", type="categorical"),
]
SCHEMA = FeatureSchema(
    names=("age", "city"), categorical=frozenset({"city"}), missing=frozenset({""}),
    max_cell_bytes=1024,
)  # fmt: skip


def test_a_typed_row_is_one_tensor_per_feature_with_nulls() -> None:
    body = request_body([None, "north"], TYPED)
    assert body["inputs"] == [
        {"name": "age", "shape": [1], "datatype": "FP64", "data": [None]},
        {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["north"]},
    ]
    decoded = decode_v2(body, SCHEMA, classifier=True, max_rows=10)
    assert np.isnan(decoded.columns["age"][0]) and decoded.columns["city"].tolist() == ["north"]

    missing_city = decode_v2(request_body([41.0, None], TYPED), SCHEMA, True, 10)
    assert missing_city.columns["city"].tolist() == [MISSING_CATEGORY]


def test_an_untyped_row_is_the_one_matrix_tensor_as_before() -> None:
    assert request_body([1.0, 2.0], None) == {
        "inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]}]
    }
