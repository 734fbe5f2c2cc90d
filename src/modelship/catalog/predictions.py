"""Batch prediction outputs in the catalog: what an output records about where it came from.

A BatchPrediction's output is written where the catalog is. On a volume it is a directory
(by default `<namespace>/<model>/predictions/<name>`) holding the predictions, the errors and
`manifest.json`; in a registry it is an OCI artifact in the model's own repository
(predictions_oci.py) whose config blob is the same document. Either way the document names the
model version by number and digest, whether that version was approved (a backtest's was not),
the input's digest and the row counts, so "everything version 7 predicted" is a listing of
these documents (`Catalog.prediction_outputs`), not a search through Job logs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

OUTPUT_KIND: Literal["BatchPredictionOutput"] = "BatchPredictionOutput"
MANIFEST_FILE = "manifest.json"
PREDICTIONS_DIR = "predictions"
"""Where, under a model's catalog directory, outputs go when the run names no directory."""


class _Document(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class OutputInput(_Document):
    uri: str
    digest: str


class OutputFile(_Document):
    file: str = Field(description="The predictions file's name (as pulled or on the volume).")
    digest: str = Field(description="Digest of the whole predictions file.")


class OutputManifest(_Document):
    """What one finished run wrote: `manifest.json` on a volume, the config blob in a registry."""

    kind: Literal["BatchPredictionOutput"] = OUTPUT_KIND
    batch_prediction: str = Field(description="namespace/name of the BatchPrediction.")
    model: str
    version: int = Field(ge=1)
    model_digest: str = Field(description="The version digest every shard loaded.")
    approved: bool = Field(description="False: a backtest with a version never approved.")
    input: OutputInput
    format: str
    rows: int = Field(ge=0)
    error_rows: int = Field(ge=0)
    output: OutputFile
    parts: list[str] = Field(description="Digests of the parts, in shard (input) order.")
    created_at: str

    def to_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True, indent=2).encode("utf-8")


class ListedOutput(BaseModel):
    """One output found in the catalog: where it is, and its manifest."""

    reference: str = Field(description="file:///dir or oci://host/repo@sha256:... ")
    manifest: OutputManifest
