"""Training on labelled production rows: what the operator tells the trainer, what it reports.

- `ProductionSource` (the trainer's `MODELSHIP_TRAINING_PRODUCTION`, as JSON): where the capture
  and label segments are (the Model's `spec.monitoring.capture.store`, which is not part of the
  training snapshot) and which version serves production, the champion of the live gate. Only
  the operator knows the latter: it reads the Deployments when it creates the attempt's Job.
- `ProductionUse` (in the trainer's summary and the version's metadata): the rows' lineage
  (how many, their window, the segments they came from and a digest of the joined rows) and the
  live gate's figures. The operator turns the gate into one of the TrainingJob's gates, so a
  candidate that loses to production on the newest labelled rows is never deployed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

LIVE_GATE_PREFIX = "live "
"""A live gate's metric reads `live <primary metric>` among the TrainingJob's gates."""


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ProductionSource(_Wire):
    """Where the trainer reads production rows, and the version to beat on the newest ones."""

    store: str | None = Field(
        default=None,
        pattern=r"^(file:///.+|oci://.+)$",
        description="The capture store (spec.monitoring.capture.store); unset: beside the "
        "catalog, where the inference pods write by default.",
    )
    champion_version: int | None = Field(
        default=None, ge=1, description="The version serving production; unset: none yet."
    )
    champion_digest: str | None = Field(
        default=None, description="Its digest: the trainer refuses a catalog version that moved."
    )
    now: float | None = Field(
        default=None, description="Read as of this Unix time (tests); unset: the clock."
    )


class SegmentSpan(_Wire):
    """The segments of one kind that were read: how many, the first and last by name, and the
    sha256 of their names in order (a later reader can tell whether it sees the same ones)."""

    count: int = Field(ge=0)
    first: str | None = None
    last: str | None = None
    digest: str


class LiveGate(_Wire):
    """The candidate and the production version on the held-out newest labelled rows."""

    metric: str = Field(description="The Model's primary metric (accuracy, r2).")
    candidate: float | None = None
    champion: float | None = None
    champion_version: int | None = None
    rows: int = Field(ge=0, description="Held-out labelled rows both were scored on.")
    passed: bool
    bound: str = Field(description="What the candidate had to reach, e.g. '>= 0.62 "
                       "(production version 3 on 120 held-out production row(s))'.")  # fmt: skip
    reason: str = Field(description="Why it passed or failed, naming both figures.")


class ProductionUse(_Wire):
    """What the trainer took from production, for lineage and for the live gate."""

    store: str
    window_from: str = Field(description="Oldest answer time read (RFC 3339).")
    window_to: str = Field(description="Newest answer time read (RFC 3339).")
    weight: float
    rows: int = Field(ge=0, description="Production rows trained on.")
    holdout_rows: int = Field(ge=0, description="Newest labelled rows held out for the gate.")
    holdout_from: str | None = Field(default=None, description="Start of the held-out window.")
    capped_rows: int = Field(default=0, ge=0, description="Older rows left out by maxRows.")
    refused: dict[str, int] = Field(
        default_factory=dict, description="Labelled rows not used, by reason."
    )
    rows_digest: str = Field(description="sha256 of the joined rows (id, inputs, label), in order.")
    captures: SegmentSpan
    labels: SegmentSpan
    live_gate: LiveGate | None = None
