"""The BatchPrediction API: what is refused at apply time (the CRD) and in the operator, named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from modelship.api.crd import KINDS, build_crd
from modelship.api.v1alpha1 import BatchPredictionSpec

DIGEST = "sha256:" + "a" * 64


def spec(**fields: Any) -> dict[str, Any]:
    return {"model": "iris", "version": {"stage": "production"},
            "input": {"uri": "builtin:iris"}, **fields}  # fmt: skip


def refusal(document: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as refused:
        BatchPredictionSpec.model_validate(document)
    return str(refused.value)


def test_defaults() -> None:
    parsed = BatchPredictionSpec.model_validate(spec())
    assert parsed.require_approved is True and parsed.max_failed_rows == 0
    assert parsed.output.format == "csv" and parsed.output.include == [
        "prediction",
        "probabilities",
    ]
    assert (parsed.sharding.rows_per_shard, parsed.sharding.parallelism) == (50_000, 2)


@pytest.mark.parametrize(
    "version", [{}, {"stage": "production", "number": 2}, {"number": 1, "digest": DIGEST}]
)
def test_version_needs_exactly_one_selector(version: dict[str, Any]) -> None:
    assert "exactly one of stage, number or digest" in refusal(spec(version=version))


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("version", {"digest": "sha256:short"}, "version.digest"),
        ("version", {"stage": "test"}, "version.stage"),
        ("version", {"number": 0}, "version.number"),
        ("input", {"uri": "s3://bucket/x.csv"}, "input.uri"),
        ("input", {"uri": "builtin:iris", "digest": "md5:1"}, "input.digest"),
        ("output", {"format": "parquet"}, "output.format"),
        ("output", {"uri": "https://x/y"}, "output.uri"),
        ("output", {"include": []}, "output.include"),
        ("sharding", {"rowsPerShard": 0}, "sharding.rowsPerShard"),
        ("sharding", {"parallelism": 0}, "sharding.parallelism"),
        ("maxFailedRows", -1, "maxFailedRows"),
        ("model", "Not_A_Name", "model"),
        ("shards", 3, "shards"),
    ],
)
def test_bad_fields_are_named(field: str, value: Any, named: str) -> None:
    message = refusal(spec(**{field: value}))
    assert named.split(".")[-1] in message


def test_a_column_named_twice_is_refused() -> None:
    message = refusal(spec(input={"uri": "builtin:iris", "idColumn": "id", "passthrough": ["id"]}))
    assert "'id' is named twice" in message


def test_the_crd_refuses_two_selectors_at_apply_and_lists_the_columns() -> None:
    [info] = [i for i in KINDS if i.kind == "BatchPrediction"]
    crd = build_crd(info)
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = schema["properties"]["version"]["x-kubernetes-validations"]
    assert rules[0]["message"] == "version needs exactly one of stage, number or digest"
    assert "spec" in version["schema"]["openAPIV3Schema"]["required"]
    assert set(schema["required"]) == {"model", "version", "input"}
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    assert names[:4] == ["Model", "Version", "Approved", "Phase"]
    assert crd["spec"]["names"]["shortNames"] == ["bp"]
