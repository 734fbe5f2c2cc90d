"""Generate the CustomResourceDefinitions in `crds/` from the pydantic models.

The models are the single source of truth: the same classes validate in the operator (defence in
depth) and produce the schemas the API server enforces. `make manifests` writes the files and a
test regenerates them to catch drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from modelship.api.schema import structural
from modelship.api.v1alpha1 import (
    GROUP,
    VERSION,
    BatchPrediction,
    BatchPredictionSpec,
    BatchPredictionStatus,
    Deployment,
    DeploymentSpec,
    DeploymentStatus,
    Model,
    ModelSpec,
    ModelStatus,
    TrainingJob,
    TrainingJobSpec,
    TrainingJobStatus,
)

CATEGORY = "modelship"


@dataclass(frozen=True)
class KindInfo:
    """Everything the CRD of one kind needs besides its schema."""

    kind: str
    plural: str
    singular: str
    short_names: list[str]
    model: type[BaseModel]
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: list[dict[str, Any]] = field(default_factory=list)
    # Fields a LIST can filter on (`fieldSelector`), so a client asks the API server for the
    # few objects it wants instead of reading the whole namespace.
    selectable: list[str] = field(default_factory=list)


def _column(name: str, path: str, type_: str = "string", priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


_AGE = _column("Age", ".metadata.creationTimestamp", "date")

KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        kind="Model",
        plural="models",
        singular="model",
        short_names=["mdl"],
        model=Model,
        spec=ModelSpec,
        status=ModelStatus,
        columns=[
            _column("Task", ".spec.task"),
            _column("Algorithm", ".spec.algorithm.name"),
            _column("Latest", ".status.latestVersion.version", "integer"),
            _column("Metric", ".status.latestVersion.score"),
            _column("Phase", ".status.phase"),
            _column("Suspended", ".spec.suspend", "boolean"),
            _column("Training", ".status.activeTrainingJob", priority=1),
            _AGE,
        ],
    ),
    KindInfo(
        kind="TrainingJob",
        plural="trainingjobs",
        singular="trainingjob",
        short_names=["tj"],
        model=TrainingJob,
        spec=TrainingJobSpec,
        status=TrainingJobStatus,
        columns=[
            _column("Model", ".spec.modelRef.name"),
            _column("Trigger", ".spec.trigger"),
            _column("Phase", ".status.phase"),
            _column("Version", ".status.version", "integer"),
            _column("Metric", ".status.score"),
            _column("Attempts", ".status.attempts", "integer", priority=1),
            _AGE,
        ],
    ),
    KindInfo(
        kind="Deployment",
        plural="deployments",
        singular="deployment",
        short_names=["mdep"],
        model=Deployment,
        spec=DeploymentSpec,
        status=DeploymentStatus,
        selectable=[".spec.modelRef.name"],
        columns=[
            _column("Model", ".spec.modelRef.name"),
            _column("Test", ".status.test.version", "integer"),
            _column("Tested", ".status.test.passed", "boolean"),
            _column("Production", ".status.production.version", "integer"),
            _column("Canary", ".status.canary.version", "integer"),
            _column("Weight", ".status.canary.weight", "integer"),
            _column("Effective", ".status.canary.effectiveWeight", "number", priority=1),
            _column("Phase", ".status.phase"),
            _column("Live", ".status.performance.live"),
            _column("Suspended", ".spec.suspend", "boolean"),
            _column("Ready", ".status.production.readyReplicas", "integer", priority=1),
            _column("Autoscaled", ".status.autoscaling.desiredReplicas", "integer", priority=1),
            _AGE,
        ],
    ),
    KindInfo(
        kind="BatchPrediction",
        plural="batchpredictions",
        singular="batchprediction",
        short_names=["bp"],
        model=BatchPrediction,
        spec=BatchPredictionSpec,
        status=BatchPredictionStatus,
        columns=[
            _column("Model", ".spec.model"),
            _column("Version", ".status.resolved.version", "integer"),
            _column("Approved", ".status.resolved.approved", "boolean"),
            _column("Phase", ".status.phase"),
            _column("Rows", ".status.resolved.rows", "integer"),
            _column("Shards", ".status.resolved.shards", "integer"),
            _column("Done", ".status.shards.succeeded", "integer"),
            _column("Output", ".status.output.ref", priority=1),
            _AGE,
        ],
    ),
)


def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return structural(model.model_json_schema(by_alias=True, mode="validation"))


def openapi_schema(info: KindInfo) -> dict[str, Any]:
    """The whole object's schema: apiVersion, kind, metadata, spec and status."""
    return {
        "type": "object",
        "description": (info.model.__doc__ or "").strip(),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "Versioned schema of this object."},
            "kind": {"type": "string", "description": "REST resource this object represents."},
            "metadata": {"type": "object"},
            "spec": _schema_of(info.spec),
            "status": _schema_of(info.status),
        },
    }


def build_crd(info: KindInfo) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{info.plural}.{GROUP}",
            "labels": {
                "app.kubernetes.io/name": "modelship",
                "app.kubernetes.io/part-of": "modelship",
            },
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": info.short_names,
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": info.columns,
                    **(
                        {"selectableFields": [{"jsonPath": path} for path in info.selectable]}
                        if info.selectable
                        else {}
                    ),
                    "schema": {"openAPIV3Schema": openapi_schema(info)},
                }
            ],
        },
    }


def render_crds() -> dict[str, str]:
    """File name → YAML text, for every CRD plus a kustomization listing them."""
    header = "# Generated by `make manifests` from modelship.api; do not edit.\n"
    files = {
        f"{GROUP}_{info.plural}.yaml": header
        + yaml.safe_dump(build_crd(info), sort_keys=False, width=100)
        for info in KINDS
    }
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
    }
    files["kustomization.yaml"] = header + yaml.safe_dump(kustomization, sort_keys=False)
    return files


def write_crds(directory: Path) -> list[Path]:
    """Write the CRDs and remove stale generated files; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    files = render_crds()
    for stale in directory.glob("*.yaml"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
