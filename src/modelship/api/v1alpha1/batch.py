"""The `BatchPrediction` kind: score a dataset with one catalog version, pinned by digest.

The version is chosen by stage, number or digest (exactly one) and resolved once, when the
operator first sees the object: the digest it resolves to is written to `status.resolved` and
every shard loads exactly that digest, so a later promotion never mixes versions inside a run.
By default only a version approved for production is used (the approval the Deployment recorded
with the approver's identity, never a field of this object); `requireApproved: false` allows a
backtest, and its output says so.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from modelship.api.v1alpha1.base import ApiModel, Condition, ResourceRequirements, cel_rules
from modelship.api.v1alpha1.dataset import DATASET_URI_PATTERN

BatchPhase = Literal["Pending", "Planning", "Running", "Assembling", "Succeeded", "Failed"]
OutputFormat = Literal["csv", "jsonl"]
OutputField = Literal["prediction", "probabilities"]
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


def _both() -> list[Literal["prediction", "probabilities"]]:
    return ["prediction", "probabilities"]


class VersionSelector(ApiModel):
    """Which catalog version scores the rows: exactly one of stage, number or digest."""

    model_config = cel_rules(
        (
            "(has(self.stage) ? 1 : 0) + (has(self.number) ? 1 : 0) + (has(self.digest) ? 1 : 0)"
            " == 1",
            "version needs exactly one of stage, number or digest",
        ),
    )

    stage: Literal["production"] | None = Field(
        default=None, description="The version serving production when the run is created."
    )
    number: int | None = Field(default=None, ge=1, description="A catalog version number.")
    digest: str | None = Field(
        default=None, pattern=DIGEST_PATTERN, description="A version digest (sha256:...)."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> VersionSelector:
        given = [n for n in ("stage", "number", "digest") if getattr(self, n) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"version needs exactly one of stage, number or digest (got {found})")
        return self


class BatchInput(ApiModel):
    """The rows to score: a dataset URI the trainer accepts, read with the same typed features."""

    uri: str = Field(
        pattern=DATASET_URI_PATTERN,
        description="builtin:<name>, file:///path.csv (the catalog volume or the pod's "
        "filesystem) or an http(s):// URL of a CSV.",
    )
    id_column: str | None = Field(
        default=None,
        min_length=1,
        description="Column copied to the output as `id` (default: the row number, from 0).",
    )
    passthrough: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Columns copied unchanged to the output, after the id.",
    )
    digest: str | None = Field(
        default=None,
        pattern=DIGEST_PATTERN,
        description="Optional pin: the run fails, naming both digests, when the input differs.",
    )

    @model_validator(mode="after")
    def _columns_once(self) -> BatchInput:
        seen: set[str] = set()
        for name in [*([self.id_column] if self.id_column else []), *self.passthrough]:
            if name in seen:
                raise ValueError(f"input column {name!r} is named twice (idColumn/passthrough)")
            seen.add(name)
        return self


class BatchOutput(ApiModel):
    """Where and how the predictions are written."""

    uri: str | None = Field(
        default=None,
        pattern=r"^file:///.+$",
        description="A directory (file:///...) to write to; default: the catalog (a volume: "
        "<namespace>/<model>/predictions/<name>; a registry: an artifact beside the version).",
    )
    format: OutputFormat = Field(default="csv", description="csv or jsonl.")
    include: list[OutputField] = Field(
        default_factory=_both,
        min_length=1,
        description="prediction, and probabilities (one proba_<class> column per class; "
        "classifiers only, ignored for regressors).",
    )


class Sharding(ApiModel):
    """How the rows are split and how many shards run at once."""

    rows_per_shard: int = Field(default=50_000, ge=1, le=10_000_000, description="Rows per shard.")
    parallelism: int = Field(default=2, ge=1, le=64, description="Shards running at once.")
    retries_per_shard: int = Field(
        default=2, ge=0, le=10, description="Pod failures one shard may have before the run fails."
    )


class BatchPredictionSpec(ApiModel):
    """Which version scores which rows, where the output goes; immutable in effect once the
    version is resolved."""

    model: str = Field(
        min_length=1, max_length=253, pattern=NAME_PATTERN, description="The Model's name."
    )
    version: VersionSelector = Field(description="stage, number or digest: exactly one.")
    require_approved: bool = Field(
        default=True,
        description="Only a version approved for production (false: a backtest; the output "
        "records approved=false).",
    )
    input: BatchInput
    output: BatchOutput = Field(default_factory=BatchOutput)
    sharding: Sharding = Field(default_factory=Sharding)
    max_failed_rows: int = Field(
        default=0,
        ge=0,
        description="Unscorable rows allowed (written to the errors part with the reason); "
        "above this the run fails naming the first ones.",
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="CPU and memory of each shard's pod."
    )
    ttl_seconds_after_finished: int | None = Field(
        default=None, ge=0, description="Delete the object this long after it finished."
    )
    timeout_seconds: int = Field(
        default=3600, ge=60, le=7 * 86400, description="Deadline of each Job of the run."
    )


class ResolvedVersion(ApiModel):
    """The version the run is pinned to, and the input as the planner read it."""

    version: int = Field(description="Catalog version number.")
    digest: str = Field(description="Its digest.")
    artifact: str | None = Field(default=None, description="Its artifact in the catalog.")
    approved: bool = Field(description="Whether it was approved for production.")
    approved_by: str | None = Field(default=None, description="Who approved it, as recorded.")
    input_digest: str | None = Field(default=None, description="Digest of the input read.")
    rows: int | None = Field(default=None, description="Rows in the input.")
    shards: int | None = Field(default=None, description="Shards the rows were split into.")


class ShardCounts(ApiModel):
    """The shards of the current attempt, as the Job reports them."""

    succeeded: int = Field(default=0, ge=0)
    running: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    retried: int = Field(
        default=0, ge=0, description="Shards redone because their part was missing."
    )


class BatchOutputStatus(ApiModel):
    """The assembled output."""

    ref: str = Field(description="Where the output is.")
    digest: str = Field(description="Digest of the predictions file (sha256:...).")
    rows: int = Field(ge=0, description="Rows scored.")
    error_rows: int = Field(default=0, ge=0, description="Rows in the errors part.")
    errors_ref: str | None = Field(default=None, description="The errors part, when any.")


class BatchFailure(ApiModel):
    reason: str
    message: str


class BatchPredictionStatus(ApiModel):
    """What the operator observed about this run."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    observed_generation: int | None = Field(default=None, description="Last generation acted on.")
    phase: BatchPhase | None = Field(default=None, description="Where the run is.")
    resolved: ResolvedVersion | None = Field(default=None, description="The pinned version.")
    shards: ShardCounts = Field(default_factory=ShardCounts)
    attempt: int = Field(default=0, ge=0, description="Scoring Jobs started (a resume adds one).")
    output: BatchOutputStatus | None = Field(default=None, description="The output, when done.")
    failure: BatchFailure | None = Field(default=None, description="Why the run failed.")
    start_time: str | None = Field(default=None, description="When the run started.")
    completion_time: str | None = Field(default=None, description="When the run finished.")
    conditions: list[Condition] = Field(default_factory=list, description="Observations.")


class BatchPrediction(ApiModel):
    """Scores a dataset with one approved catalog version, pinned by digest."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    spec: BatchPredictionSpec
    status: BatchPredictionStatus = Field(default_factory=BatchPredictionStatus)
