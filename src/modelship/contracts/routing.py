"""What the production router serves, as the operator writes it and the router reads it.

While a canary (or shadow traffic) is active, the production Service selects router pods instead
of the stable ones. The router learns where to send each request from one operator-owned
ConfigMap (this model, JSON under `ROUTING_KEY`) and learns the pods behind each backend from the
EndpointSlices of the backend's Service. Weights live here and in the Deployment's status, never
in the user's spec, so a GitOps tool sees no drift.
"""

from __future__ import annotations

import json
from typing import ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field

from modelship.contracts.env import PodEnvironment

ROUTING_KEY: Final = "routing.json"
VERSION_HEADER: Final = "x-modelship-version"
"""A request carrying this header with a backend's version goes to that backend, whatever the
weights say (pinning, for tests and debugging); an unknown version is answered 404."""
BACKEND_HEADER: Final = "x-modelship-backend"
"""Set on every routed response: `stable` or `canary`, so clients and tests can count shares."""
ROUTER_PORT: Final = 8080
ROUTER_GRPC_PORT: Final = 8081
"""The router passes gRPC connections through to stable's pods on this port (the serving pods'
gRPC port), so the production Service's `grpc` port keeps working while the router is in front."""


class RouteBackend(BaseModel):
    """One version behind the router and the Service whose EndpointSlices list its pods."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    service: str = Field(min_length=1, description="Service name in the router's namespace.")


class RoutingTable(BaseModel):
    """The router's whole configuration; `revision` only grows, so a stale read is ignored."""

    model_config = ConfigDict(extra="forbid")

    revision: int = Field(ge=0, description="Grows with every change the operator makes.")
    stable: RouteBackend
    canary: RouteBackend | None = None
    canary_weight: int = Field(default=0, ge=0, le=100, description="Percent of requests.")
    shadow: RouteBackend | None = Field(
        default=None, description="Receives a copy of a share of requests; its answer is dropped."
    )
    shadow_percent: int = Field(default=0, ge=0, le=100)

    def to_data(self) -> dict[str, str]:
        """The ConfigMap's `data`."""
        return {ROUTING_KEY: self.model_dump_json()}

    @classmethod
    def from_data(cls, data: dict[str, str] | None) -> RoutingTable:
        """Parse a ConfigMap's `data`; ValueError when the key is missing or invalid."""
        raw = (data or {}).get(ROUTING_KEY)
        if raw is None:
            raise ValueError(f"no {ROUTING_KEY} in the routing ConfigMap")
        return cls.model_validate(json.loads(raw))


class RouterEnv(PodEnvironment):
    """The router pod's environment (`MODELSHIP_ROUTER_*`)."""

    env_prefix: ClassVar[str] = "MODELSHIP_ROUTER_"

    namespace: str = Field(min_length=1)
    deployment: str = Field(min_length=1, description="The modelship Deployment it routes for.")
    model_name: str = Field(min_length=1)
    routing_config_map: str = Field(min_length=1)
    port: int = Field(default=ROUTER_PORT, ge=1, le=65535)
    grpc_port: int | None = Field(
        default=None, ge=1, le=65535, description="Pass gRPC through to stable here (unset: no)."
    )
