"""Pure builder of the training pod's Job: one per attempt of a TrainingJob.

No I/O here: it turns the TrainingJob's snapshot and settings into a dict the client layer
applies, on the pod skeleton every operator pod shares (`kube.pods`).
"""

from __future__ import annotations

import json
from typing import Any

from modelship.api.v1alpha1 import TrainingSnapshot
from modelship.contracts.production_data import ProductionSource
from modelship.contracts.training import TERMINATION_MESSAGE_PATH, TrainerEnv
from modelship.operator.kube.naming import (
    LABEL_TRAINING_JOB,
    base_labels,
    child_name,
    owner_reference,
)
from modelship.operator.kube.pods import container, pod_spec, pod_storage
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.script_pod import script_pod

Obj = dict[str, Any]
DEFAULT_TRAINING_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}


def job_name(training_job: str, attempt: int) -> str:
    return child_name(training_job, f"a{attempt}")


def build_training_pod_job(
    tj_body: Obj,
    snapshot: TrainingSnapshot,
    attempt: int,
    settings: OperatorSettings,
    *,
    production: ProductionSource | None = None,
) -> Obj:
    """The batch/v1 Job of one training attempt; retries are the TrainingJob's, not the Job's.

    `production`: for spec.dataset.production, the capture store and the production version,
    passed to the trainer (which reaches the store with the catalog access it publishes with:
    the catalog's volume, where the default store lies, or the registry's credentials)."""
    meta = tj_body["metadata"]
    model = tj_body["spec"]["modelRef"]["name"]
    labels = base_labels(model, "trainer")
    labels[LABEL_TRAINING_JOB] = meta["name"]
    resources = (
        snapshot.training.resources.to_wire()
        if snapshot.training.resources is not None
        else DEFAULT_TRAINING_RESOURCES
    )
    if snapshot.training.code is not None:
        template = script_pod(meta, model, snapshot, resources, settings)
    else:
        template = builtin_pod(meta, model, snapshot, resources, settings, production)
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
            "template": {"metadata": {"labels": labels}, "spec": template},
        },
    }


def builtin_pod(
    meta: Obj,
    model: str,
    snapshot: TrainingSnapshot,
    resources: Obj,
    settings: OperatorSettings,
    production: ProductionSource | None = None,
) -> Obj:
    """One container: the built-in trainer fits, evaluates and publishes."""
    storage = pod_storage(settings, catalog="write", scratch="1Gi")
    trainer = TrainerEnv(
        snapshot=json.dumps(snapshot.to_wire(), sort_keys=True),
        catalog_root=storage.catalog_root,
        namespace=meta["namespace"],
        model_name=model,
        training_job_name=meta["name"],
        production=production,
        termination_message_path=TERMINATION_MESSAGE_PATH,
    )
    trainer_container = container(
        "trainer",
        "modelship.training",
        settings,
        env=trainer.to_env(),
        resources=resources,
        storage=storage,
        image=snapshot.training.image,
        reports=True,
    )
    return pod_spec(
        [trainer_container],
        storage=storage,
        service_account=settings.trainer_service_account,
        restart_policy="Never",
    )
