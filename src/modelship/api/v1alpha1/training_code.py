"""The user's own training code (`spec.training.code`): where the module comes from and how it runs.

Kept apart from the Model's other fields because it is a policy surface of its own: the types a
Model may request are checked against the platform admin's list, and the code's time-out must
stay below the pod's (TrainingSnapshot checks both; see README "Your own training code").
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from modelship.api.v1alpha1.base import ApiModel

CONFIGMAP_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
CONFIGMAP_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
# An OCI repository path (distribution spec) inside the catalog registry, without host or tag.
OCI_REPOSITORY_PATTERN = r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
SHA256_DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
PYTHON_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
DOTTED_TYPE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"


class ConfigMapCodeSource(ApiModel):
    """A Python module kept in a ConfigMap of the Model's namespace."""

    name: str = Field(
        min_length=1, max_length=253, pattern=CONFIGMAP_NAME_PATTERN, description="ConfigMap name."
    )
    key: str = Field(
        min_length=1,
        max_length=253,
        pattern=CONFIGMAP_KEY_PATTERN,
        description="Key whose value is the module's source (for example train.py).",
    )


class OciCodeSource(ApiModel):
    """A Python module stored as an OCI artifact in the catalog registry, pinned by digest."""

    repository: str = Field(
        min_length=1,
        max_length=255,
        pattern=OCI_REPOSITORY_PATTERN,
        description="Repository in the catalog registry (no host, no tag), e.g. team/churn-train.",
    )
    digest: str = Field(
        pattern=SHA256_DIGEST_PATTERN,
        description="Manifest digest (sha256:...); its one layer is the module's source.",
    )


class TrainingCodeSpec(ApiModel):
    """The data scientist's own training function, run instead of a built-in algorithm.

    Modelship still fetches the data, holds rows out, computes every gated metric on them and
    publishes; the code only sees the training rows and returns a fitted estimator.
    """

    config_map: ConfigMapCodeSource | None = Field(
        default=None, description="The module from a ConfigMap (exactly one of configMap, oci)."
    )
    oci: OciCodeSource | None = Field(
        default=None,
        description="The module from an OCI artifact pinned by digest (exactly one of "
        "configMap, oci).",
    )
    entrypoint: str = Field(
        default="train",
        pattern=PYTHON_NAME_PATTERN,
        description="Function called as entrypoint(data, params) -> fitted estimator.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Passed to the function as its `params` (a dict)."
    )
    timeout_seconds: int = Field(
        default=600,
        ge=1,
        le=7 * 24 * 3600,
        description="Wall-clock limit of the function; past it the code is killed and the "
        "TrainingJob fails (not retried).",
    )
    image: str | None = Field(
        default=None,
        description="A team's own image for the code (it must contain modelship; same "
        "contract). Default: the trainer image.",
    )
    trusted_types: list[Annotated[str, Field(pattern=DOTTED_TYPE_PATTERN, max_length=255)]] = Field(
        default_factory=list,
        description="Extra types the returned estimator may hold (module.Class). A request: "
        "each must be on the operator's admin allowlist, or training is refused naming it.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> TrainingCodeSpec:
        if (self.config_map is None) == (self.oci is None):
            raise ValueError("training.code needs exactly one source: configMap or oci")
        return self

    @property
    def source(self) -> str:
        """The source in words, for messages and lineage."""
        if self.config_map is not None:
            return f"configmap:{self.config_map.name}/{self.config_map.key}"
        assert self.oci is not None
        return f"oci:{self.oci.repository}@{self.oci.digest}"
