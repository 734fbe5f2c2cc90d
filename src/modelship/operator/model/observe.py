"""Observe a Model: its own TrainingJobs, its Deployments when drift can retrain it, the
dataset's validator when its changes can. The only reads before `decide`."""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import Model
from modelship.operator.kube.client import Kube
from modelship.operator.kube.lookups import deployments_of_model
from modelship.operator.kube.naming import LABEL_MODEL
from modelship.operator.kube.resources import TRAINING_JOBS
from modelship.operator.model.dataset_probe import DatasetProbe
from modelship.operator.model.observation import (
    ModelObservation,
    ObservedTrainingJob,
    deployments_of,
)

Obj = dict[str, Any]


def owned_training_jobs(kube: Kube, body: Obj) -> list[Obj]:
    meta = body["metadata"]
    uid = meta.get("uid")
    return [
        tj
        for tj in kube.list(TRAINING_JOBS, meta["namespace"], {LABEL_MODEL: meta["name"]})
        if any(ref.get("uid") == uid for ref in tj["metadata"].get("ownerReferences", []))
    ]


def observe(kube: Kube, body: Obj, model: Model, probe: DatasetProbe | None) -> ModelObservation:
    """The Model's TrainingJobs; its Deployments and dataset only when the policy looks at them."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    policy = model.spec.retraining
    tjs = [ObservedTrainingJob.from_body(tj) for tj in owned_training_jobs(kube, body)]
    deployments = (
        deployments_of(deployments_of_model(kube, namespace, name), name)
        if policy.drift is not None or policy.performance is not None
        else []
    )
    checked = None
    if policy.on_dataset_change and probe is not None:
        checked = probe.check((namespace, name), model.spec.dataset.uri)
    return ModelObservation(tjs, deployments, checked)
