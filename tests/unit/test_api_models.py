"""The API models accept the samples and refuse what the operator must not act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from modelship.api.v1alpha1 import BatchPrediction, Deployment, Model, ModelSpec, TrainingJob

SAMPLES = Path(__file__).parents[2] / "manifests" / "samples"
KIND_MODELS = {
    "Model": Model,
    "TrainingJob": TrainingJob,
    "Deployment": Deployment,
    "BatchPrediction": BatchPrediction,
}


def iris_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "task": "classification",
        "dataset": {"uri": "builtin:iris"},
        "algorithm": {"name": "random_forest"},
    }
    spec.update(overrides)
    return spec


@pytest.mark.parametrize(
    "path",
    sorted(p for p in SAMPLES.glob("*.yaml") if p.name != "kustomization.yaml"),
    ids=lambda p: p.name,
)
def test_every_sample_parses(path: Path) -> None:
    body = yaml.safe_load(path.read_text())
    KIND_MODELS[body["kind"]].model_validate(body)


def test_defaults_are_applied_and_camel_case_on_the_wire() -> None:
    spec = ModelSpec.model_validate(iris_spec())
    wire = spec.to_wire()
    assert wire["evaluation"] == {"testFraction": 0.2, "seed": 42, "gates": []}
    assert wire["retraining"]["historyLimit"] == 5


def test_snapshot_leaves_out_the_retraining_policy() -> None:
    snapshot = ModelSpec.model_validate(iris_spec()).snapshot().to_wire()
    assert "retraining" not in snapshot
    assert snapshot["algorithm"] == {"name": "random_forest", "params": {}}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"algorithm": {"name": "ridge"}}, "is a regression estimator"),
        ({"dataset": {"uri": "file:///data/x.csv"}}, "dataset.target is required"),
        ({"evaluation": {"gates": [{"metric": "r2", "min": 0.5}]}}, "does not apply"),
        ({"evaluation": {"gates": [{"metric": "accuracy"}]}}, "needs min or max"),
        ({"evaluation": {"testFraction": 1.5}}, "less than 1"),
        ({"algorithm": {"name": "deep_magic"}}, "algorithm.name"),
        ({"dataset": {"uri": "s3://bucket/data.csv"}}, "dataset.uri"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_specs_are_refused_with_the_field_named(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ModelSpec.model_validate(iris_spec(**overrides))
    assert message in str(caught.value)


def test_deployment_version_and_approval_rules() -> None:
    base = {"modelRef": {"name": "iris"}}
    assert Deployment.model_validate({"spec": base}).spec.version == "latest"
    with pytest.raises(ValidationError, match="version"):
        Deployment.model_validate({"spec": {**base, "version": "newest"}})
    with pytest.raises(ValidationError, match="digest"):
        Deployment.model_validate({"spec": {**base, "approval": {"version": 1, "digest": "abc"}}})
    with pytest.raises(ValidationError, match="replicas"):
        Deployment.model_validate({"spec": {**base, "production": {"replicas": -1}}})


def test_times_are_written_as_kubernetes_writes_them_and_read_back_whatever_wrote_them() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from modelship.api.v1alpha1.base import parse_rfc3339, rfc3339

    berlin = timezone(timedelta(hours=1))
    assert (
        rfc3339(datetime(2026, 12, 2, 16, 30, 5, 999_999, tzinfo=berlin)) == "2026-12-02T15:30:05Z"
    )
    assert rfc3339(datetime(2026, 12, 2, 16, 30, 5)) == "2026-12-02T16:30:05Z"  # naive: UTC
    expected = datetime(2026, 12, 2, 15, 30, 5, tzinfo=UTC)
    for written in (
        "2026-12-02T15:30:05Z",  # the API server, utcnow()
        "2026-12-02T15:30:05.000000Z",  # a MicroTime
        "2026-12-02T16:30:05+01:00",  # a client with an offset
        "2026-12-02t15:30:05z",  # RFC 3339 allows lower case
        "2026-12-02T15:30:05",  # no offset: taken as UTC
    ):
        parsed = parse_rfc3339(written)
        assert parsed == expected, written
        assert parsed.tzinfo is not None
    assert parse_rfc3339(rfc3339(expected)) == expected
    with pytest.raises(ValueError):
        parse_rfc3339("yesterday")


def test_dataset_production_defaults_bounds_and_needs_a_builtin_algorithm() -> None:
    from modelship.api.v1alpha1 import ProductionDataSpec, TrainingSnapshot

    spec = ProductionDataSpec()
    assert (spec.window_seconds, spec.weight, spec.max_rows) == (30 * 86400, 1.0, 50_000)
    assert (spec.holdout_seconds, spec.min_holdout_rows) == (86400, 30)
    for bad in ({"weight": 0}, {"maxRows": 0}, {"windowSeconds": 10}, {"holdoutSeconds": -1}):
        with pytest.raises(ValidationError):
            ProductionDataSpec.model_validate(bad)
    code = {"task": "classification",
            "dataset": {"uri": "builtin:iris", "production": {"weight": 3}},
            "training": {"code": {"configMap": {"name": "c", "key": "train.py"}}}}  # fmt: skip
    with pytest.raises(ValidationError, match=r"dataset\.production needs a built-in algorithm"):
        TrainingSnapshot.model_validate(code)
    fine = code | {"algorithm": {"name": "random_forest"}, "training": {}}
    assert TrainingSnapshot.model_validate(fine).dataset.production == ProductionDataSpec(weight=3)
