"""The SDK's request for typed columns is what the server decodes."""

from __future__ import annotations

import numpy as np

from modelship.api.v1alpha1 import MISSING_CATEGORY
from modelship.client.prediction import infer_request
from modelship.serving.typed_codec import FeatureSchema, decode_v2

SCHEMA = FeatureSchema(
    names=("age", "city", "income"), categorical=frozenset({"city"}),
    missing=frozenset({"", "NA"}), max_cell_bytes=1024,
)  # fmt: skip


def test_columns_by_name_become_one_tensor_each() -> None:
    request = infer_request({"age": [41, None], "city": ["north", None], "income": [None, None]})
    assert [(t["name"], t["datatype"]) for t in request["inputs"]] == [
        ("age", "FP64"), ("city", "BYTES"), ("income", "BYTES"),
    ]  # fmt: skip
    columns = decode_v2(request, SCHEMA, classifier=True, max_rows=10).columns
    assert columns["age"][0] == 41 and np.isnan(columns["age"][1])
    assert columns["city"].tolist() == ["north", MISSING_CATEGORY]
    assert np.isnan(columns["income"]).all()


def test_rows_of_numbers_stay_one_matrix() -> None:
    assert infer_request([[1, 2], [3, 4]])["inputs"] == [
        {"name": "input", "shape": [2, 2], "datatype": "FP64", "data": [1.0, 2.0, 3.0, 4.0]}
    ]
