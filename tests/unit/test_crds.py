"""The checked-in CRDs are exactly what the models generate, and they are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship.api.crd import KINDS, build_crd, render_crds

CRDS = Path(__file__).parents[2] / "crds"
FORBIDDEN = {
    "$ref",
    "anyOf",
    "oneOf",
    "allOf",
    "const",
    "uniqueItems",
    "default",
    "title",
}


def test_checked_in_crds_match_generation() -> None:
    rendered = render_crds()
    on_disk = {p.name: p.read_text() for p in CRDS.glob("*.yaml")}
    assert on_disk == rendered, "crds/ is stale: run `make manifests`"


def _walk(node: Any, path: str = "") -> list[str]:
    problems: list[str] = []
    if isinstance(node, dict):
        problems += [f"{path}: {key}" for key in FORBIDDEN & node.keys()]
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: properties beside additionalProperties")
        # Kubernetes lets exactly these two markers stand in for a type (a string-or-object
        # node, such as a typed feature, is kept as given and validated by the operator).
        is_typed = (
            "type" in node
            or node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
        )
        if not is_typed and path.count("/") > 0 and not path.endswith("properties"):
            problems.append(f"{path}: no type")
        for key, value in node.items():
            problems += _walk(value, f"{path}/{key}")
    return problems


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_schema_is_structural(info: Any) -> None:
    schema = build_crd(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(schema["properties"]["spec"]) == []
    assert _walk(schema["properties"]["status"]) == []


@pytest.mark.parametrize("info", KINDS, ids=lambda i: i.kind)
def test_every_spec_field_has_a_description(info: Any) -> None:
    def undocumented(node: dict[str, Any], path: str) -> list[str]:
        missing = []
        for name, sub in node.get("properties", {}).items():
            if not sub.get("description"):
                missing.append(f"{path}.{name}")
            missing += undocumented(sub, f"{path}.{name}")
            if "items" in sub:
                missing += undocumented(sub["items"], f"{path}.{name}[]")
        return missing

    schema = build_crd(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert undocumented(schema["properties"]["spec"], "spec") == []


def test_names_short_names_and_category() -> None:
    crds = {info.kind: build_crd(info) for info in KINDS}
    assert {k: c["spec"]["names"]["shortNames"] for k, c in crds.items()} == {
        "Model": ["mdl"],
        "TrainingJob": ["tj"],
        "Deployment": ["mdep"],
        "BatchPrediction": ["bp"],
    }
    assert all(c["spec"]["names"]["categories"] == ["modelship"] for c in crds.values())
    assert yaml.safe_load(render_crds()["kustomization.yaml"])["resources"] == sorted(
        f"modelship.io_{i.plural}.yaml" for i in KINDS
    )


def _rules(node: Any, path: str = "") -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if isinstance(node, dict):
        if "x-kubernetes-validations" in node:
            found[path] = [v["message"] for v in node["x-kubernetes-validations"]]
        for key, value in node.items():
            found.update(_rules(value, f"{path}/{key}" if key != "properties" else path))
    return found


def test_cross_field_rules_are_cel_where_the_fields_are() -> None:
    """Every cross-field rule CEL can express is in the schema, on the object it relates."""
    by_kind = {
        info.kind: _rules(build_crd(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
        for info in KINDS
    }
    model = by_kind["Model"]
    assert model["/spec"][:2] == [
        "set exactly one of algorithm (a built-in estimator) and training.code (your own "
        "training function)",
        "training.code.timeoutSeconds must be less than training.timeoutSeconds, the whole pod's",
    ]
    assert model["/spec"][2:] == [
        "evaluation.gates: a gate's metric must apply to the task (classification: accuracy, "
        "balanced_accuracy, f1_macro, precision_macro, recall_macro, roc_auc; regression: r2, "
        "rmse, mae)",
        "dataset.production needs a built-in algorithm: training.code receives the dataset's "
        "rows only, with no per-row weights and no live gate",
    ]
    assert model["/spec/dataset"] == ["dataset.target is required for CSV datasets"]
    assert len(model["/spec/evaluation/gates/items"]) == 2
    deployment = by_kind["Deployment"]
    assert set(deployment) == {
        "/spec",
        "/spec/production/autoscaling",
        "/spec/production/rollout",
        "/spec/production/rollout/steps/items",
        "/spec/test/acceptance",
    }
    assert len(deployment["/spec/production/rollout"]) == 4
    # The TrainingJob carries the Model's snapshot, so the same rules hold there.
    assert by_kind["TrainingJob"]["/spec/snapshot/dataset"] == model["/spec/dataset"]
