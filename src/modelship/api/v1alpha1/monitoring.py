"""A `Model`'s monitoring of its served predictions: identity, capture, feedback and label files.

Kept apart from `model.py` because it concerns serving, not training: nothing here changes what
the trainer produces, so it is not part of the training snapshot. The inference pods read it
through their environment (`contracts.capture.CaptureEnv`, `contracts.serving.ServingEnv`).
"""

from __future__ import annotations

from typing import Final

from pydantic import Field

from modelship.api.v1alpha1.base import ApiModel

MAX_LABEL_FILES: Final = 4
"""Label files one Model names: each is reported in the evaluation Job's termination message,
which must stay under the kubelet's 4 KiB."""
MAX_LABEL_URI_CHARS: Final = 256


class CaptureSpec(ApiModel):
    """Which predictions the inference pods keep, and where."""

    sample_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of rows captured with their prediction, version and time (0..1). "
        "Decided by hashing the prediction id, so every replica keeps the same rows. 0 is off.",
    )
    store: str | None = Field(
        default=None,
        pattern=r"^(file:///.+|oci://.+)$",
        description="Where capture and label segments go: oci://host/repository or "
        "file:///dir (a volume). Default: the catalog's registry, repository "
        "<namespace>/<model>-capture.",
    )
    exclude: list[str] = Field(
        default_factory=list,
        description="Input columns never written to the store (personal data, free text).",
    )
    flush_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="A partial segment is written this often."
    )
    retention_days: float = Field(
        default=30.0, gt=0, description="Segments older than this are deleted."
    )


class FeedbackSpec(ApiModel):
    """Who may send labels to `POST /v2/models/{name}/feedback`."""

    token_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="Name of a Secret in the Model's namespace whose key `token` is the bearer "
        "token of the feedback route. Unset: the route refuses every caller (403).",
    )


class LabelFileSpec(ApiModel):
    """A CSV of labels for earlier predictions: one column of prediction ids, one of labels."""

    uri: str = Field(
        pattern=r"^(file:///.+|https?://.+)$",
        max_length=MAX_LABEL_URI_CHARS,
        description="Where the CSV is: file:///path (a volume the evaluation Job mounts, such "
        "as the catalog's) or http(s)://. Read by every evaluation; stored as labels once per "
        "content digest.",
    )
    id_column: str = Field(
        default="id", min_length=1, max_length=128, description="Column of prediction ids."
    )
    label_column: str = Field(
        default="label", min_length=1, max_length=128, description="Column of labels."
    )


class LabelsSpec(ApiModel):
    """Labels that arrive as files, besides the feedback route."""

    files: list[LabelFileSpec] = Field(
        default_factory=list,
        max_length=MAX_LABEL_FILES,
        description="Label files the Deployments' evaluation Jobs read and store as label "
        "segments, beside the feedback route's.",
    )


class MonitoringSpec(ApiModel):
    """Prediction identity, capture and labels for the served versions of this Model."""

    id_input: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Name of an input tensor ([n] strings or integers) carrying the caller's "
        "own id per row; removed before predicting. Unset: row i of a request is "
        "'<request id>/<i>'.",
    )
    capture: CaptureSpec = Field(default_factory=CaptureSpec, description="Prediction capture.")
    feedback: FeedbackSpec = Field(default_factory=FeedbackSpec, description="Label feedback.")
    labels: LabelsSpec = Field(default_factory=LabelsSpec, description="Label files.")
