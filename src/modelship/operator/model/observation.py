"""What the Model controller observed, as typed values the pure decisions work on.

The Model controller reads its own TrainingJobs and the Deployments of the Model; here each is
parsed once into the API models (status included), so the decisions never read another object's
dict by key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from modelship.api.v1alpha1 import (
    DeploymentStatus,
    TrainingJob,
    TrainingJobStatus,
    TrainingSnapshot,
    Trigger,
)
from modelship.operator.kube.naming import RETRAIN_ANNOTATION

Obj = dict[str, Any]
TERMINAL = ("Succeeded", "Failed")


@dataclass(frozen=True)
class ObservedTrainingJob:
    """One TrainingJob of the Model: why it ran, what it trained, what it produced."""

    name: str
    created: str = ""  # creationTimestamp ("" when not known)
    trigger: Trigger | None = None
    model_generation: int = 0
    snapshot: TrainingSnapshot | None = None  # None when its spec does not parse
    status: TrainingJobStatus = field(default_factory=TrainingJobStatus)

    @property
    def active(self) -> bool:
        return self.status.phase not in TERMINAL

    @classmethod
    def from_body(cls, body: Obj) -> ObservedTrainingJob:
        meta = body["metadata"]
        name, created = str(meta["name"]), str(meta.get("creationTimestamp") or "")
        try:
            tj = TrainingJob.model_validate(body)
        except ValidationError:
            # Not ours to judge here (its own controller reports it); it still counts as a run.
            status = TrainingJobStatus.model_validate(body.get("status") or {})
            return cls(name, created, status=status)
        spec = tj.spec
        return cls(name, created, spec.trigger, spec.model_generation, spec.snapshot, tj.status)


@dataclass(frozen=True)
class ServingDeployment:
    """A Deployment of the Model: its name and its typed status (production, drift)."""

    name: str
    status: DeploymentStatus

    @classmethod
    def from_body(cls, body: Obj) -> ServingDeployment:
        status = DeploymentStatus.model_validate(body.get("status") or {})
        return cls(str(body["metadata"]["name"]), status)


def deployments_of(bodies: list[Obj], model: str) -> list[ServingDeployment]:
    """The Deployments (modelship.io) among `bodies` that roll out `model`.

    Selected by `spec.modelRef` without validating the rest of the spec: a Deployment whose spec
    was since edited into something invalid may still serve production, and its drift counts.
    """
    return [
        ServingDeployment.from_body(body)
        for body in bodies
        if (body.get("spec") or {}).get("modelRef", {}).get("name") == model
    ]


@dataclass(frozen=True)
class ModelMeta:
    """The parts of the Model's metadata the decisions use."""

    name: str
    namespace: str
    generation: int
    retrain_annotation: str | None = None

    @classmethod
    def from_body(cls, body: Obj) -> ModelMeta:
        meta = body["metadata"]
        annotation = (meta.get("annotations") or {}).get(RETRAIN_ANNOTATION)
        return cls(
            str(meta["name"]),
            str(meta["namespace"]),
            int(meta.get("generation") or 1),
            str(annotation) if annotation else None,
        )


@dataclass(frozen=True)
class ModelObservation:
    """Everything one Model reconcile read, besides the Model itself."""

    training_jobs: list[ObservedTrainingJob] = field(default_factory=list)
    deployments: list[ServingDeployment] = field(default_factory=list)
    # The dataset probe's answer this time: (validator, error), or None when not probed now.
    dataset_probe: tuple[str | None, str | None] | None = None
