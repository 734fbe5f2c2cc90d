"""The acceptance Job's contract: the plan the operator gives it and the report it leaves.

The operator writes an `AcceptanceEnv` into the Job's container environment; the Job reads it back
through `AcceptanceSettings` (which inherits from it) and ends by writing one `AcceptanceJobReport`
as the last line of its termination message, which the operator parses with the same model.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from modelship.api.v1alpha1 import AcceptanceReport, AcceptanceSpec, CheckResult, Task
from modelship.contracts.env import PodEnvironment
from modelship.contracts.termination import last_report

DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
MAX_ERROR_CHARS = 500


class AcceptancePlan(BaseModel):
    """What to check: which pods serve which version, held to which acceptance spec."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    model: str = Field(min_length=1, description="The Model's name (the served name).")
    namespace: str = Field(min_length=1, description="Namespace of the Model and its catalog.")
    version: int = Field(ge=1, description="The catalog version under test.")
    digest: str = Field(description="Its digest; every pod must report exactly this one.")
    task: Task = Field(description="classification or regression: which metrics apply.")
    targets: list[str] = Field(description="Base URLs of the ready test pods.")
    acceptance: AcceptanceSpec = Field(description="The Deployment's spec.test.acceptance.")
    catalog_root: str = Field(min_length=1, description="Where the catalog is mounted.")
    artifact: str | None = Field(
        default=None,
        description="The version's artifact URI as its trainer reported it; from a registry the "
        "manifest pinned by digest (repo@sha256:...), which is read instead of any tag.",
    )


class AcceptanceEnv(PodEnvironment):
    """The acceptance Job's environment (`MODELSHIP_ACCEPTANCE_*`)."""

    env_prefix: ClassVar[str] = "MODELSHIP_ACCEPTANCE_"

    plan: AcceptancePlan
    termination_message_path: str = DEFAULT_TERMINATION_MESSAGE_PATH


class AcceptanceJobReport(BaseModel):
    """The Job's verdict (checks ran: `checks` is set) or why it reached none (`error`)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    passed: bool = Field(description="Whether every check passed.")
    checked_at: str | None = Field(default=None, description="When the checks ran.")
    samples: int | None = Field(default=None, ge=0, description="Rows sent.")
    checks: list[CheckResult] | None = Field(default=None, description="Each check, when run.")
    error: str | None = Field(default=None, description="Why the checks could not run.")

    def to_message(self) -> str:
        """One compact JSON line, as the termination message carries it."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    def to_status(self) -> AcceptanceReport:
        """The part of the report the Deployment's status keeps."""
        return AcceptanceReport(
            checked_at=self.checked_at, samples=self.samples, checks=list(self.checks or [])
        )

    @classmethod
    def from_message(cls, text: str | None) -> AcceptanceJobReport | None:
        """The report in a termination message: its last line that is one.

        None when there is no message; when there is one but no line parses (a crash, whose
        message falls back to the log's tail), a failed report quoting the message's end.
        """
        if not text or not text.strip():
            return None
        report = last_report(cls, text)
        if report is None:
            report = cls(passed=False, error=text.strip()[-MAX_ERROR_CHARS:])
        return report
