"""The evaluation Job's contract: the plan the operator gives it and the totals it reports.

The operator writes an `EvaluationEnv` into the Job's environment (`MODELSHIP_EVALUATION_*`);
the Job (`python -m modelship.monitoring`) reads it back through its settings root, joins the
capture and label segments of the served versions, and ends by writing one `EvaluationReport`
line as its termination message, which the operator parses with the same model. The report
holds per-version totals only, never a row, and stays far below the kubelet's 4 KiB limit on a
termination message: at most `MAX_VERSIONS` versions of about 300 bytes each, and at most
`MAX_LABEL_FILES` label-file results (a URI of at most 256 characters and an error of at most
200 each).

Label files the Model names (`spec.monitoring.labels.files`) travel in the plan; the Job reads
each, stores its labels as label segments (once per content digest) and reports what it made of
it (`LabelFileStatus`, the same type the Deployment's status keeps).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from modelship.api.v1alpha1 import LabelFileStatus, LiveMetric, ServedRole, Task
from modelship.api.v1alpha1.monitoring import MAX_LABEL_FILES, MAX_LABEL_URI_CHARS
from modelship.contracts.env import PodEnvironment
from modelship.contracts.termination import last_report

DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
MAX_ERROR_CHARS = 500
MAX_VERSIONS = 3
"""Production, a canary and a shadow: what one Deployment serves at once."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class ServedVersion(_Wire):
    """A version the Deployment serves, and in which role."""

    version: int = Field(ge=1)
    digest: str = Field(min_length=1)
    role: ServedRole


class LabelFile(_Wire):
    """A label file to read: where, and which columns hold the id and the label."""

    uri: str = Field(pattern=r"^(file:///.+|https?://.+)$", max_length=MAX_LABEL_URI_CHARS)
    id_column: str = Field(min_length=1)
    label_column: str = Field(min_length=1)


class EvaluationPlan(_Wire):
    """What to evaluate: whose segments, which versions, over which window."""

    model: str = Field(min_length=1, description="The Model's name (the served name).")
    namespace: str = Field(min_length=1)
    task: Task
    metric: LiveMetric | None = Field(default=None, description="Unset: by the task.")
    store: str | None = Field(
        default=None,
        pattern=r"^(file:///.+|oci://.+)$",
        description="The capture store's URI (the Model's spec.monitoring.capture.store). "
        "Unset: beside the catalog, where the inference pods put it by default.",
    )
    catalog_root: str = Field(min_length=1, description="Where the catalog is (mounted).")
    versions: list[ServedVersion] = Field(min_length=1, max_length=MAX_VERSIONS)
    window_seconds: int | None = Field(default=None, ge=1)
    maturity_seconds: int = Field(default=0, ge=0)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    label_files: list[LabelFile] = Field(default_factory=list, max_length=MAX_LABEL_FILES)
    sample_rate: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="The capture's sample rate: a label-file row outside the sample could "
        "never join a capture, so it is refused (unknown_id) as the feedback route does.",
    )


class EvaluationEnv(PodEnvironment):
    """The evaluation Job's environment (`MODELSHIP_EVALUATION_*`)."""

    env_prefix: ClassVar[str] = "MODELSHIP_EVALUATION_"

    plan: EvaluationPlan
    termination_message_path: str = DEFAULT_TERMINATION_MESSAGE_PATH
    now: float | None = Field(
        default=None, description="Evaluate as of this Unix time (tests); unset: the clock."
    )
    label_file_max_bytes: int = Field(
        default=1 << 30, gt=0, description="Largest label file read (http(s) and file alike)."
    )
    label_file_timeout_seconds: float = Field(
        default=600.0, gt=0, description="Wall-clock limit for downloading one label file."
    )


class VersionTotals(_Wire):
    """One served version's totals: counts, and the metric with its interval when labelled."""

    version: int
    digest: str
    role: ServedRole
    captured: int = Field(ge=0)
    labelled: int = Field(ge=0)
    coverage: float = Field(ge=0, le=1)
    metric: LiveMetric
    value: float | None = None
    low: float | None = None
    high: float | None = None
    method: Literal["wilson", "bootstrap"] | None = None
    confidence: float | None = None


class EvaluationReport(_Wire):
    """The Job's totals (`versions` set) or why it reached none (`error`)."""

    evaluated_at: str | None = None
    window_from: str | None = None
    window_to: str | None = None
    versions: list[VersionTotals] | None = Field(default=None, max_length=MAX_VERSIONS)
    segments: int = Field(default=0, ge=0, description="Segments read.")
    labels: int = Field(default=0, ge=0, description="Distinct labelled ids read.")
    orphan_labels: int = Field(default=0, ge=0)
    immature_captures: int = Field(default=0, ge=0)
    invalid_records: int = Field(default=0, ge=0)
    label_files: list[LabelFileStatus] | None = Field(default=None, max_length=MAX_LABEL_FILES)
    error: str | None = None

    def to_message(self) -> str:
        """One compact JSON line, as the termination message carries it."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @classmethod
    def from_message(cls, text: str | None) -> EvaluationReport | None:
        """The report in a termination message: its last line that is one.

        None when there is no message; when there is one but no line parses (a crash, whose
        message falls back to the log's tail), a report whose error quotes the message's end.
        """
        if not text or not text.strip():
            return None
        report = last_report(cls, text)
        return report if report is not None else cls(error=text.strip()[-MAX_ERROR_CHARS:])
