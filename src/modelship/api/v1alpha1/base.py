"""Shared pieces of every kind: camelCase on the wire, strict specs, conditions.

Specs forbid unknown fields so the operator's second validation (after the API server's schema)
catches typos instead of silently ignoring them; statuses are written only by the operator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

GROUP = "modelship.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class ApiModel(BaseModel):
    """Base for every API object: camelCase aliases, accepted by name too, no unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=True,
    )

    def to_wire(self) -> dict[str, object]:
        """The JSON-compatible dict the API server stores (camelCase, unset optionals left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def cel_rules(*rules: tuple[str, str]) -> ConfigDict:
    """A class's cross-field rules as CEL (`x-kubernetes-validations`, rule and message), so the
    API server refuses a breaking object at apply time with the message, naming the field path;
    the class's own validator says the same in the operator. Fields the user left out are absent
    (defaults are not in the schema), so every rule tests `has()` before it reads a field."""
    validations: list[JsonValue] = [{"rule": rule, "message": message} for rule, message in rules]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": validations})


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


def rfc3339(moment: datetime) -> str:
    """`moment` as Kubernetes writes times: RFC 3339 in UTC, whole seconds, a `Z` suffix (a
    naive `moment` is taken to be UTC already)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    """A time the API server, a client or the operator wrote (`Z` or an offset, any fraction of
    a second), as an aware datetime; one written without an offset is taken to be UTC, so
    comparisons with aware times never raise. ValueError when it is not a time at all."""
    moment = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def utcnow() -> str:
    """Now, as Kubernetes writes times (see rfc3339)."""
    return rfc3339(datetime.now(UTC))


class Condition(ApiModel):
    """One observation of the object's state, following the Kubernetes API conventions."""

    type: str = Field(description="Type of the condition, in CamelCase (for example Ready).")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        default="",
        description="Machine-readable, CamelCase reason for the last transition.",
    )
    message: str = Field(default="", description="Human-readable details of the transition.")
    last_transition_time: str | None = Field(
        default=None,
        description="When the status of this condition last changed (RFC 3339).",
    )
    observed_generation: int | None = Field(
        default=None,
        description="The .metadata.generation the condition was set for.",
    )


class ObjectRef(ApiModel):
    """A reference to an object of a known kind in the same namespace."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Name of the referenced object, in the same namespace.",
    )


ResourceQuantity = str | int
"""A Kubernetes quantity: `500m`, `1`, `512Mi`."""


class ResourceRequirements(ApiModel):
    """CPU and memory requests and limits for a container, as in a Pod spec."""

    requests: dict[str, ResourceQuantity] | None = Field(
        default=None,
        description="Minimum resources the container needs (cpu, memory).",
    )
    limits: dict[str, ResourceQuantity] | None = Field(
        default=None,
        description="Maximum resources the container may use (cpu, memory).",
    )
