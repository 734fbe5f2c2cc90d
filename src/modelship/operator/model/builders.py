"""Pure builders of what the Model controller creates: its TrainingJobs and the namespace's
catalog claim (the training pods themselves are the TrainingJob controller's)."""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import API_VERSION, ModelSpec, Trigger
from modelship.operator.kube.naming import base_labels, child_name, owner_reference, short_hash
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]


def training_job_name(model: str, trigger: Trigger, key: str) -> str:
    """Deterministic per cause: a spec change by generation, anything else by a key's hash."""
    if trigger == "spec-change":
        return child_name(model, f"g{key}")
    return child_name(model, f"{trigger}-{short_hash(key)}")


def build_training_job(
    model_body: Obj,
    spec: ModelSpec,
    trigger: Trigger,
    reason: str,
    key: str,
) -> Obj:
    """A TrainingJob that snapshots the Model's training spec at its current generation."""
    meta = model_body["metadata"]
    labels = base_labels(meta["name"], "training")
    labels["modelship.io/trigger"] = trigger
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": {
            "name": training_job_name(meta["name"], trigger, key),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(model_body, "Model")],
        },
        "spec": {
            "modelRef": {"name": meta["name"]},
            "trigger": trigger,
            "reason": reason,
            "modelGeneration": meta.get("generation", 1),
            "snapshot": spec.snapshot().to_wire(),
        },
    }


def build_catalog_claim(namespace: str, settings: OperatorSettings) -> Obj:
    """The namespace's catalog volume; deliberately not owned by anything, so never collected."""
    spec: Obj = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": settings.catalog_size}},
    }
    if settings.catalog_storage_class:
        spec["storageClassName"] = settings.catalog_storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": settings.catalog_claim,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "modelship",
                "app.kubernetes.io/component": "catalog",
            },
        },
        "spec": spec,
    }
