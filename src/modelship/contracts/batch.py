"""The batch pods' contract with the operator: their environment in, one report line out.

One process, `python -m modelship.batch`, runs the three steps of a BatchPrediction: `plan`
(read the input once: rows, columns, digest), `shard` (score rows [i·n, (i+1)·n) of an Indexed
Job's index i into a part) and `assemble` (the parts in shard order into the output). The
operator writes a `BatchEnv` into each container; the process reads it back through
`modelship.batch.settings.BatchSettings`, which inherits from it. Each step ends with one
`BatchReport` line in its termination message, which the operator parses with the same model.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from modelship.contracts.env import PodEnvironment
from modelship.contracts.termination import last_report

TERMINATION_MESSAGE_PATH = "/dev/termination-log"
MAX_MESSAGE_CHARS = 3000
MAX_REPORTED_ERRORS = 5
# Exit codes: a bad input or version is not retried; anything else may be.
EXIT_BAD_INPUT = 2
BatchStep = Literal["plan", "shard", "assemble"]


def _both() -> list[Literal["prediction", "probabilities"]]:
    return ["prediction", "probabilities"]


class BatchEnv(PodEnvironment):
    """What the operator tells one batch pod (`MODELSHIP_BATCH_*`)."""

    env_prefix: ClassVar[str] = "MODELSHIP_BATCH_"

    step: BatchStep = Field(description="plan, shard or assemble.")
    name: str = Field(description="The BatchPrediction's name.")
    namespace: str = Field(description="Its namespace, the Model's.")
    model_name: str = Field(description="The Model whose version scores.")
    version: int = Field(ge=1, description="The pinned catalog version.")
    digest: str = Field(description="Its digest: every shard loads exactly this one.")
    artifact: str | None = Field(default=None, description="Its artifact URI (registry pin).")
    approved: bool = Field(description="Whether the version was approved (recorded in output).")
    catalog_root: str = Field(description="Where the catalog is (path or URI).")
    input_uri: str = Field(description="The dataset URI to score.")
    id_column: str | None = Field(default=None, description="Column written as the id.")
    passthrough: list[str] = Field(default_factory=list, description="Columns copied through.")
    input_digest: str | None = Field(
        default=None,
        description="plan: the user's pin; shard/assemble: the digest the planner read "
        "(a shard refuses an input that changed since).",
    )
    output_dir: str | None = Field(
        default=None,
        description="Directory the parts and the output are written to; None: the catalog "
        "registry (catalog_root is oci://), beside the version.",
    )
    format: Literal["csv", "jsonl"] = "csv"
    include: list[Literal["prediction", "probabilities"]] = Field(default_factory=_both)
    rows_per_shard: int = Field(default=50_000, ge=1)
    shards: int = Field(default=0, ge=0, description="Shards of the run (known after planning).")
    max_failed_rows: int = Field(default=0, ge=0)
    termination_message_path: str = TERMINATION_MESSAGE_PATH


class ShardError(BaseModel):
    """One unscorable row: its position in the input, its id, and why."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    row: int = Field(ge=0)
    id: str
    reason: str


class BatchReport(BaseModel):
    """The one line a batch pod leaves; the fields set depend on its step (None: not known)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    step: BatchStep
    ok: bool = True
    reason: str | None = Field(default=None, description="CamelCase reason of a failure.")
    error: str | None = Field(default=None, description="What went wrong.")
    rows: int | None = Field(default=None, ge=0, description="plan: rows; else rows scored.")
    input_digest: str | None = None
    columns: list[str] | None = Field(default=None, description="plan: the input's columns.")
    shard: int | None = None
    reused: bool | None = Field(default=None, description="shard: the part existed already.")
    error_rows: int | None = Field(default=None, ge=0)
    first_errors: list[ShardError] = Field(default_factory=list)
    missing_shards: list[int] = Field(
        default_factory=list, description="assemble: shards whose part is missing (redo them)."
    )
    output_ref: str | None = None
    output_digest: str | None = None
    errors_ref: str | None = None

    def to_message(self) -> str:
        """One compact JSON line that fits a termination message (errors trimmed first)."""
        line = self.model_dump_json(by_alias=True, exclude_none=True)
        if len(line) > MAX_MESSAGE_CHARS:
            trimmed = self.model_copy(
                update={
                    "first_errors": self.first_errors[:1],
                    "columns": None,
                    "error": (self.error or "")[-500:] or None,
                }
            )
            line = trimmed.model_dump_json(by_alias=True, exclude_none=True)
        return line

    @classmethod
    def from_message(cls, text: str | None) -> BatchReport | None:
        """The report in a termination message: its last line that is one; None without any."""
        return last_report(cls, text)
