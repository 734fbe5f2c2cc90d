"""Typed views of the built-in objects the operator reads: apps/v1 Deployments, Pods, Jobs.

Only the fields a decision reads are modelled, everything else is ignored, and absent fields take
the API server's defaults; so a child is read by attribute, and a misspelt field is a type error
instead of a silent `None`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _View(BaseModel):
    model_config = ConfigDict(
        extra="ignore", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class ObjectMeta(_View):
    name: str = ""
    generation: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: str = ""
    deletion_timestamp: str | None = None


class Condition(_View):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None


class AppsDeploymentSpec(_View):
    replicas: int = 1


class AppsDeploymentStatus(_View):
    observed_generation: int = 0
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    conditions: list[Condition] = Field(default_factory=list)


class AppsDeployment(_View):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AppsDeploymentSpec = Field(default_factory=AppsDeploymentSpec)
    status: AppsDeploymentStatus = Field(default_factory=AppsDeploymentStatus)


class Waiting(_View):
    reason: str | None = None
    message: str | None = None


class Terminated(_View):
    exit_code: int | None = None
    message: str | None = None


class ContainerState(_View):
    waiting: Waiting | None = None
    terminated: Terminated | None = None


class ContainerStatus(_View):
    name: str = ""
    state: ContainerState = Field(default_factory=ContainerState)
    last_state: ContainerState = Field(default_factory=ContainerState)


class PodStatus(_View):
    pod_ip: str | None = Field(default=None, alias="podIP")
    conditions: list[Condition] = Field(default_factory=list)
    container_statuses: list[ContainerStatus] = Field(default_factory=list)


class Pod(_View):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    status: PodStatus = Field(default_factory=PodStatus)


class JobStatus(_View):
    conditions: list[Condition] = Field(default_factory=list)


class Job(_View):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    status: JobStatus = Field(default_factory=JobStatus)


def true_conditions(conditions: list[Condition]) -> dict[str, Condition]:
    """The conditions whose status is True, by type."""
    return {c.type: c for c in conditions if c.status == "True"}
