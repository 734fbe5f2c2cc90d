"""The trainer pod's contract with the operator: its environment in, its summary out.

- `TrainerEnv`: the `MODELSHIP_TRAINING_*` variables the operator sets on the training container.
  The trainer's settings root (`modelship.training.settings.TrainerSettings`) inherits from it, so
  a renamed field renames the variable on both sides; a test builds the real Job and reads every
  variable back through the settings.
- `TrainerSummary` / `TrainerFailure`: the one line of JSON the trainer writes to its termination
  message, on success or failure. The trainer writes it with `termination_line()` and the
  operator reads it with `from_termination_message()`; neither side reads the other's keys.
"""

from __future__ import annotations

import json
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from modelship.api.v1alpha1 import GateResult
from modelship.contracts.env import PodEnvironment
from modelship.contracts.production_data import ProductionSource, ProductionUse

TERMINATION_MESSAGE_PATH = "/dev/termination-log"
# Kubernetes keeps at most 4096 bytes of a termination message.
TERMINATION_MESSAGE_LIMIT = 4096
# How much of a message that is not our JSON (a traceback with FallbackToLogsOnError) is kept.
RAW_MESSAGE_TAIL = 500


class TrainerEnv(PodEnvironment):
    """What the operator tells one training attempt; every field is one environment variable."""

    env_prefix: ClassVar[str] = "MODELSHIP_TRAINING_"

    snapshot: str | None = Field(
        default=None,
        description="The TrainingJob's training snapshot as JSON (camelCase, as on the wire).",
    )
    catalog_root: str | None = Field(
        default=None, description="Catalog to publish to: a path, file:// or oci:// URI."
    )
    namespace: str = Field(default="default", description="Namespace of the Model.")
    model_name: str | None = Field(default=None, description="Name of the Model.")
    training_job_name: str | None = Field(
        default=None, description="TrainingJob this run belongs to (recorded in the metadata)."
    )
    allowed_types: list[str] | None = Field(
        default=None,
        description="The platform admin's allowlist of extra artifact types a Model's "
        "training.code.trustedTypes may request (the operator's allowed_artifact_types).",
    )
    production: ProductionSource | None = Field(
        default=None,
        description="For spec.dataset.production: the capture store and the version serving "
        "production (the live gate's champion), which only the operator knows.",
    )
    # A string on the wire: `to_env` passes strings as they are, anything else as JSON.
    termination_message_path: str = Field(
        default=TERMINATION_MESSAGE_PATH,
        description="Where the one-line JSON result goes (the pod's terminationMessagePath).",
    )


class _Line(BaseModel):
    """camelCase JSON on one line; unknown keys ignored so either side may be newer."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def termination_line(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), separators=(",", ":"))

    @classmethod
    def from_termination_message(cls, text: str | None) -> Self | None:
        """The newest line of `text` that is this model's JSON, or None."""
        for document in _json_lines(text):
            try:
                return cls.model_validate(document)
            except ValidationError:
                continue
        return None


class TrainerSummary(_Line):
    """Success: the version the trainer published. Gate failures are still a trainer success."""

    version: int = Field(description="Catalog version published.")
    digest: str = Field(description="Content digest of the version (sha256:...).")
    metrics: dict[str, float] = Field(default_factory=dict, description="Held-out metrics.")
    gates: list[GateResult] = Field(
        default_factory=list, description="The trainer's own gate check (no champion)."
    )
    gates_passed: bool | None = Field(default=None, description="Whether every gate passed.")
    artifact_uri: str = Field(default="", description="Catalog URI of the model file.")
    dataset_digest: str | None = Field(default=None, description="Digest of the data read.")
    gates_truncated: bool = Field(
        default=False, description="Passed gates were dropped to fit the message limit."
    )
    code_digest: str | None = Field(
        default=None, description="Digest of the user's training code (script mode only)."
    )
    production: ProductionUse | None = Field(
        default=None,
        description="Labelled production rows used (spec.dataset.production) and the live gate.",
    )

    def termination_line(self) -> str:
        """Compact JSON that fits a termination message; passed gates are dropped first."""
        line = self._line()
        if len(line.encode()) >= TERMINATION_MESSAGE_LIMIT:
            failed = [gate for gate in self.gates if not gate.passed][:10]
            line = self.model_copy(update={"gates": failed, "gates_truncated": True})._line()
        return line

    def _line(self) -> str:
        document = self.model_dump(mode="json", by_alias=True)
        if not self.gates_truncated:
            del document["gatesTruncated"]
        if self.code_digest is None:
            del document["codeDigest"]
        if self.production is None:
            del document["production"]
        return json.dumps(document, separators=(",", ":"))


class TrainerFailure(_Line):
    """Failure: why, in words and as a CamelCase reason (the exit code says whether to retry)."""

    error: str | None = Field(default=None, description="What went wrong.")
    reason: str | None = Field(default=None, description="CamelCase reason for the condition.")

    @classmethod
    def from_termination_message(cls, text: str | None) -> Self | None:
        """The trainer's report; text that is not our JSON (a traceback) becomes the error."""
        report = super().from_termination_message(text)
        if report is None and text and text.strip() and not _json_lines(text):
            return cls(error=text.strip()[-RAW_MESSAGE_TAIL:])
        return report


def _json_lines(text: str | None) -> list[dict[str, object]]:
    """JSON objects among the lines of `text`, newest (last) first."""
    documents = []
    for line in reversed((text or "").strip().splitlines()):
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            documents.append(parsed)
    return documents
