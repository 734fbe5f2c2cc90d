"""The drift report: what `GET /v2/models/{name}/drift` of an inference pod answers.

The inference server renders it from its drift monitor; the operator reads one per production pod
and combines them into the Deployment's status.drift. Keys are snake_case on the wire, as the
server has always served them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FeaturePsi(BaseModel):
    """Population stability index of one input feature; None until rows were observed."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    psi: float | None = None
    missing_rate: float | None = Field(
        default=None,
        description="Typed numeric features: the window's share of missing values (the "
        "reference share is in the version's profile).",
    )


class DriftReference(BaseModel):
    """The catalog version whose reference profile live inputs are compared with."""

    model_config = ConfigDict(extra="forbid")

    version: int
    digest: str


class DriftReport(BaseModel):
    """One inference pod's drift over its recent traffic."""

    model_config = ConfigDict(extra="forbid")

    model_name: str
    model_version: str
    reference: DriftReference
    method: Literal["psi"] = "psi"
    epsilon: float = Field(gt=0)
    window_rows: int = Field(ge=0, description="Rows the PSI values are computed over.")
    observed_rows: int = Field(ge=0, description="Rows seen since the process started.")
    psi: float | None = Field(default=None, description="Mean PSI over features.")
    max_psi: float | None = Field(default=None, description="PSI of the worst feature.")
    features: list[FeaturePsi] = Field(min_length=1)
