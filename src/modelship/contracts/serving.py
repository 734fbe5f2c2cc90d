"""The inference server's pod environment (`MODELSHIP_SERVING_*`), as the operator sets it.

`ServingSettings` (the server's settings root) inherits these fields and adds the ones the
operator never sets (limits, batching, drift window, ...); the operator builds a stage's container
environment from a `ServingEnv`, so both sides use the same names and constraints.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from modelship.contracts.capture import CaptureEnv
from modelship.contracts.env import PodEnvironment

Stage = Literal["test", "production"]


class ServingEnv(PodEnvironment):
    """What identifies the one catalog version a serving pod serves, and where it listens."""

    env_prefix: ClassVar[str] = "MODELSHIP_SERVING_"

    model_name: str = Field(min_length=1, description="The Model's name; the served name.")
    namespace: str = Field(default="default", min_length=1)
    version: int = Field(ge=1, description="Catalog version to serve.")
    expected_digest: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="Version digest the operator approved; loading fails closed on mismatch.",
    )
    catalog_root: str = Field(min_length=1, description="Catalog path, file:// or oci:// URI.")
    artifact: str | None = Field(
        default=None,
        description="The version's artifact URI as its trainer reported it; from a registry the "
        "manifest pinned by digest (repo@sha256:...), which is read instead of any tag.",
    )
    trusted_types: list[str] | None = Field(
        default=None,
        description="Extra artifact types the platform admin allows (the operator's "
        "allowed_artifact_types), beyond the built-in allowlist; never read from the artifact.",
    )
    stage: Stage = "test"
    port: int = Field(default=8080, ge=1, le=65535)
    grpc_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of the Open Inference Protocol's gRPC service; 0 serves REST only.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Server processes sharing the ports (SO_REUSEPORT); the operator sets it "
        "from the container's CPU limit through the downward API. Unset: one.",
    )
    id_input: str | None = Field(
        default=None,
        min_length=1,
        description="Name of an input tensor carrying the caller's per-row prediction ids "
        "(the Model's spec.monitoring.idInput); removed before predicting.",
    )
    capture: CaptureEnv | None = Field(
        default=None, description="Prediction capture; unset captures nothing."
    )
