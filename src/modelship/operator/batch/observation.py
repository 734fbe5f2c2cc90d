"""What one BatchPrediction reconcile knows after its reads: types only, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from modelship.contracts.batch import BatchReport

JobState = Literal["absent", "running", "succeeded", "failed"]


@dataclass(frozen=True)
class CatalogVersion:
    """A version of the Model, as its status lists it."""

    version: int
    digest: str
    artifact: str | None = None


@dataclass(frozen=True)
class ApprovalRecord:
    """A version some Deployment of the Model took to production, and who approved it."""

    version: int
    digest: str
    approved_by: str | None
    serving: bool
    """Whether it serves production now (the stage selector's answer)."""


@dataclass(frozen=True)
class VersionFacts:
    """What resolving the selector needs; read only until the version is pinned."""

    model_exists: bool
    versions: list[CatalogVersion] = field(default_factory=list)
    approvals: list[ApprovalRecord] = field(default_factory=list)


@dataclass(frozen=True)
class JobReading:
    """One of the run's Jobs: its state, the report its pod left, the shard counts."""

    state: JobState = "absent"
    report: BatchReport | None = None
    succeeded: int = 0
    running: int = 0
    failed: int = 0
    failed_indexes: str = ""
    message: str = ""
    """What Kubernetes said when the Job failed (its Failed condition)."""


ABSENT = JobReading()


@dataclass(frozen=True)
class Observation:
    facts: VersionFacts | None = None
    job: JobReading = ABSENT
    """The Job of the current phase (plan, the attempt's scoring, assemble)."""
