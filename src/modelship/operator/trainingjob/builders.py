"""Pure builders of the objects the Model and TrainingJob controllers create.

No I/O here: each function turns parsed API objects and settings into a dict the client layer
applies, and is unit-tested without a cluster.
"""

from __future__ import annotations

import json
from typing import Any

from modelship.api.v1alpha1 import API_VERSION, ModelSpec, TrainingSnapshot, Trigger

# TERMINATION_MESSAGE_PATH is re-exported: serving_builders gives its pods the same path.
from modelship.contracts.training import TERMINATION_MESSAGE_PATH as TERMINATION_MESSAGE_PATH
from modelship.contracts.training import TrainerEnv
from modelship.operator.kube.catalog_access import catalog_access
from modelship.operator.kube.naming import (
    LABEL_TRAINING_JOB,
    base_labels,
    child_name,
    owner_reference,
    short_hash,
)
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]

RESTRICTED_CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
DEFAULT_TRAINING_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}


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


def job_name(training_job: str, attempt: int) -> str:
    return child_name(training_job, f"a{attempt}")


def build_training_pod_job(
    tj_body: Obj,
    snapshot: TrainingSnapshot,
    attempt: int,
    settings: OperatorSettings,
) -> Obj:
    """The batch/v1 Job of one training attempt; retries are the TrainingJob's, not the Job's."""
    meta = tj_body["metadata"]
    model = tj_body["spec"]["modelRef"]["name"]
    labels = base_labels(model, "trainer")
    labels[LABEL_TRAINING_JOB] = meta["name"]
    resources = (
        snapshot.training.resources.to_wire()
        if snapshot.training.resources is not None
        else DEFAULT_TRAINING_RESOURCES
    )
    catalog = catalog_access(settings, writable=True)
    trainer = TrainerEnv(
        snapshot=json.dumps(snapshot.to_wire(), sort_keys=True),
        catalog_root=catalog.root,
        namespace=meta["namespace"],
        model_name=model,
        training_job_name=meta["name"],
        termination_message_path=TERMINATION_MESSAGE_PATH,
    )
    # HOME: libraries that cache under ~ need a writable one on a read-only root filesystem.
    env = [*trainer.to_env(), *catalog.env, {"name": "HOME", "value": "/tmp"}]
    pod_spec: Obj = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "trainer",
                "image": snapshot.training.image or settings.image,
                "imagePullPolicy": settings.image_pull_policy,
                "command": ["python", "-m", "modelship.training"],
                "env": env,
                "resources": resources,
                "securityContext": RESTRICTED_CONTAINER_SECURITY,
                "terminationMessagePath": TERMINATION_MESSAGE_PATH,
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": [*catalog.mounts, {"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": [*catalog.volumes, {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
    }
    if settings.trainer_service_account:
        pod_spec["serviceAccountName"] = settings.trainer_service_account
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(meta["name"], attempt),
            "namespace": meta["namespace"],
            "labels": {**labels, "modelship.io/attempt": str(attempt)},
            "ownerReferences": [owner_reference(tj_body, "TrainingJob")],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": snapshot.training.timeout_seconds,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
