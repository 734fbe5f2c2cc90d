"""Pure builders of what the Model controller creates: its TrainingJobs, the namespace's catalog
claim and the dataset probe Jobs of file:// datasets (the training pods themselves are the
TrainingJob controller's)."""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import API_VERSION, ModelSpec, Trigger
from modelship.contracts.dataset import DatasetProbeEnv
from modelship.contracts.training import TERMINATION_MESSAGE_PATH
from modelship.operator.kube.naming import base_labels, child_name, owner_reference, short_hash
from modelship.operator.kube.pods import container, pod_spec, pod_storage
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
# The dataset probe Jobs: their component label, the check they belong to, what they hash.
COMPONENT = "dataset-probe"
STAMP = "modelship.io/probe-stamp"
URI = "modelship.io/dataset-uri"


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


def build_dataset_probe_job(model: Obj, uri: str, stamp: int, settings: OperatorSettings) -> Obj:
    """The batch/v1 Job of one check of `uri`, owned by the Model (deleted with it)."""
    meta = model["metadata"]
    labels = {**base_labels(meta["name"], COMPONENT), STAMP: str(stamp)}
    env = DatasetProbeEnv(uri=uri, termination_message_path=TERMINATION_MESSAGE_PATH)
    # What the trainer would read: the catalog volume's files where the catalog is a volume;
    # with a registry there is no claim to mount (and the probe needs no registry credentials).
    storage = pod_storage(settings, catalog="files")
    probe = container(
        "probe",
        "modelship.training.probe",
        settings,
        env=env.to_env(),
        storage=storage,
        resources={
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        reports=True,
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": child_name(meta["name"], f"dsprobe-{stamp}"),
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {URI: uri},
            "ownerReferences": [owner_reference(model, "Model")],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 120,
            "template": {
                "metadata": {"labels": labels},
                "spec": pod_spec(
                    [probe],
                    storage=storage,
                    service_account=settings.trainer_service_account,
                    restart_policy="Never",
                ),
            },
        },
    }
