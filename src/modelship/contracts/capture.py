"""Prediction capture and labels: the pod-environment section and the records both sides read.

The operator sets `ServingEnv.capture` (from the Model's `spec.monitoring`) and the inference
server reads it through its settings root; the server writes `CaptureRecord` and `LabelRecord`
lines into segments, which the evaluation job reads back. One module holds all three so that a
field renamed on one side is renamed on the other.

A prediction id is `<request id>/<row index>`, or the caller's own per-row key when the Model
names an id input (`spec.monitoring.idInput`). Whether a row is captured is decided by hashing
its id (`sampled`), so every replica, the canary and the shadow agree on which rows are kept, and
a client that sends feedback can tell which of its ids can ever be joined.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

FEEDBACK_TOKEN_ENV: Final = "MODELSHIP_SERVING_FEEDBACK_TOKEN"
"""Variable holding the bearer token of the feedback route; the operator fills it from a Secret
(`valueFrom.secretKeyRef`), never as a literal value, and the server reads it as
`ServingSettings.feedback_token`."""

SEGMENT_SUFFIX: Final = ".jsonl.gz"
"""Segments are gzip-compressed JSON lines: one record per line, readable with `zcat`."""

SegmentKind = Literal["captures", "labels"]

MAX_ID_CHARS: Final = 256
"""Longest prediction id accepted (caller keys and request ids alike); bounded so that a client
cannot make the capture store hold arbitrary blobs under the name of an id."""

_HASH_SPAN = float(1 << 64)


def sampled(prediction_id: str, rate: float) -> bool:
    """Whether the row with this id is captured at `rate` (0..1), the same in every process.

    blake2b is in the standard library, fast for short inputs and, unlike `hash()`, not salted
    per process, so replicas and restarts agree.
    """
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.blake2b(prediction_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _HASH_SPAN < rate


class CaptureEnv(BaseModel):
    """How an inference pod captures predictions (`MODELSHIP_SERVING_CAPTURE`, as JSON)."""

    model_config = ConfigDict(extra="forbid")

    sample_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of rows captured, decided by hashing the prediction id; 0 is off.",
    )
    store: str | None = Field(
        default=None,
        pattern=r"^(file:///.+|oci://.+)$",
        description="Where segments go: file:///dir (a volume) or oci://host/repository (one "
        "repository per model). Unset: beside the catalog the version is served from.",
    )
    exclude: list[str] = Field(
        default_factory=list,
        description="Input columns never written to the store (e.g. personal data).",
    )
    flush_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="A partial segment is written this often."
    )
    segment_rows: int = Field(
        default=5000, ge=1, le=1_000_000, description="Rows per segment at most."
    )
    queue_rows: int = Field(
        default=20_000,
        ge=1,
        le=10_000_000,
        description="Rows waiting for the writer at most; beyond it rows are dropped and counted, "
        "so capture never holds a request or grows memory without bound.",
    )
    retention_days: float = Field(
        default=30.0, gt=0, description="Segments older than this are deleted by the writer."
    )


class CaptureRecord(BaseModel):
    """One captured row: what the model was asked and what it answered."""

    model_config = ConfigDict(extra="forbid")
    kind: ClassVar[SegmentKind] = "captures"

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    ts: float = Field(description="Unix time of the answer, seconds.")
    model: str
    version: int
    digest: str
    stage: str
    inputs: dict[str, Any] = Field(description="Features as received, minus excluded columns.")
    prediction: Any
    proba: list[float] | None = None


class LabelRecord(BaseModel):
    """One label for one prediction id, as the feedback route (or a label file) received it."""

    model_config = ConfigDict(extra="forbid")
    kind: ClassVar[SegmentKind] = "labels"

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    ts: float = Field(description="Unix time the label arrived, seconds.")
    label: str | float | int | bool
    source: str | None = Field(default=None, max_length=64)


STORE_DIR = ".monitoring"  # a dot-entry of the model's directory: never taken for a version


def volume_store_path(namespace: str, model: str) -> str:
    """The default store's directory relative to a volume catalog's root: where serving pods
    write (the subPath they mount writable, the catalog being read-only to them) and where the
    evaluation Job and the trainer read."""
    return f"{namespace}/{model}/{STORE_DIR}"
