"""Batch prediction parts and outputs in an OCI registry, in the model's own repository.

A shard's part is a blob, and a small manifest tagged `batchpart-<shard>-<name>` (the name
derives from everything that decides the part's bytes) makes it findable: its config blob is
the shard's record, its layers the part and, when rows were refused, the errors. The manifest
PUT is the last write, so a tag exists only for a complete part, and a retried or re-created run
finds it and scores nothing again.

The finished output is one manifest tagged `predictions-<version>-<run>`: its config is the
run's `OutputManifest`, its layers the CSV header and the parts in input order (concatenated,
they are the predictions file: `oras pull` and `cat` in title order), then the errors parts.
Its `subject` is the version's manifest, so a registry with the referrers API lists it under
the version too; its annotations name the model, the version number and digest, whether the
version was approved, the input digest and the rows, so a registry browser shows them and
`outputs(version)` lists "everything version 7 predicted" from tags and manifests alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from modelship.catalog import oci_layout as layout
from modelship.catalog.digests import digest_bytes
from modelship.catalog.errors import CatalogError, IntegrityError
from modelship.catalog.predictions import ListedOutput, OutputManifest
from modelship.catalog.registry import MANIFEST_TYPE, Registry

log = logging.getLogger(__name__)

PART_TAG_PREFIX = "batchpart-"
OUTPUT_TAG_PREFIX = "predictions-"
PART_ARTIFACT_TYPE = "application/vnd.modelship.predictions.part.v1"
PART_RECORD_TYPE = "application/vnd.modelship.predictions.shard.v1+json"
OUTPUT_ARTIFACT_TYPE = "application/vnd.modelship.predictions.v1"
OUTPUT_CONFIG_TYPE = "application/vnd.modelship.predictions.config.v1+json"
ROWS_TYPES = {
    "csv": "application/vnd.modelship.predictions.rows.v1+csv",
    "jsonl": "application/vnd.modelship.predictions.rows.v1+jsonl",
}
ERRORS_TYPE = "application/vnd.modelship.predictions.errors.v1+jsonl"

# Annotations of an output manifest (the version's own keys where they mean the same).
MODEL = "io.modelship.model"
VERSION = layout.VERSION
DIGEST = layout.DIGEST
APPROVED = "io.modelship.approved"
INPUT_DIGEST = "io.modelship.input-digest"
ROWS = "io.modelship.rows"
ERROR_ROWS = "io.modelship.error-rows"
BATCH = "io.modelship.batchprediction"
PREDICTIONS_DIGEST = "io.modelship.predictions-digest"
RUN = "io.modelship.run"
SHARD = "io.modelship.shard"
_MAX_TAG = 128


def part_tag(shard: int, name: str) -> str:
    return f"{PART_TAG_PREFIX}{shard:06d}-{name}"


def output_tag(version: int, batch: str, run_key: str) -> str:
    """`predictions-<version>-<name>-<run>`: the version first, so listing it is a prefix."""
    head = f"{OUTPUT_TAG_PREFIX}{version}-"
    tail = f"-{run_key[:12]}"
    return head + batch[: _MAX_TAG - len(head) - len(tail)] + tail


@dataclass(frozen=True)
class StoredPart:
    """A complete part found under its tag: the record the shard wrote, its blobs."""

    record: bytes
    part: dict[str, Any]
    """The part's layer descriptor (digest, size)."""
    errors: dict[str, Any] | None


class RegistryPredictionStore:
    """Parts and outputs of one model in `repo` (the model's version repository)."""

    def __init__(self, registry: Registry, repo: str) -> None:
        self.registry = registry
        self.repo = repo

    def reference(self, digest: str) -> str:
        return f"oci://{self.registry.host}/{self.repo}@{digest}"

    # -- parts -----------------------------------------------------------------------------

    def write_part(
        self, tag: str, shard: int, fmt: str, record: bytes, part: bytes, errors: bytes
    ) -> None:
        """Blobs first, the tagged manifest last: a tag names only a complete part."""
        layers = [self._push(ROWS_TYPES[fmt], part)]
        if errors:
            layers.append(self._push(ERRORS_TYPE, errors))
        self.registry.push_blob(self.repo, record)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": PART_ARTIFACT_TYPE,
            "config": layout.descriptor(PART_RECORD_TYPE, record),
            "layers": layers,
            "annotations": {SHARD: str(shard)},
        }
        self.registry.put_manifest(self.repo, tag, manifest)

    def read_part(self, tag: str) -> StoredPart | None:
        """The part under `tag` when its record and blobs are all there; None to redo it."""
        found = self.registry.get_manifest(self.repo, tag)
        if found is None:
            return None
        manifest = found[0]
        config = manifest.get("config") or {}
        layers = [layer for layer in manifest.get("layers") or [] if isinstance(layer, dict)]
        if config.get("mediaType") != PART_RECORD_TYPE or not layers:
            log.warning("%s:%s is not a part manifest; scoring the shard again", self.repo, tag)
            return None
        try:
            record = self.registry.fetch_blob(self.repo, str(config["digest"]))
        except IntegrityError as error:
            log.warning("%s:%s: %s; scoring the shard again", self.repo, tag, error)
            return None
        if not all(self.registry.has_blob(self.repo, str(layer["digest"])) for layer in layers):
            return None
        errors = next((layer for layer in layers if layer.get("mediaType") == ERRORS_TYPE), None)
        return StoredPart(record, layers[0], errors)

    def stream(self, digest: str) -> Iterator[bytes]:
        """A blob in chunks; IntegrityError at its end when it is not what its digest says."""
        return self.registry.stream_blob(self.repo, digest)

    # -- outputs ---------------------------------------------------------------------------

    def find_output(self, tag: str) -> tuple[OutputManifest, str] | None:
        """The output under `tag` (its manifest document and manifest digest), or None."""
        found = self.registry.get_manifest(self.repo, tag)
        if found is None:
            return None
        return self._document(found[0], f"{self.repo}:{tag}"), found[1]

    def write_output(
        self, tag: str, document: OutputManifest, header: bytes,
        parts: list[dict[str, Any]], errors: list[dict[str, Any]], subject: dict[str, Any] | None,
    ) -> str:  # fmt: skip
        """Push the output manifest over blobs already pushed; its manifest digest."""
        rows_type = ROWS_TYPES[document.format]
        layers = [self._push(rows_type, header)] if header else []
        layers += [{**part, "mediaType": rows_type} for part in parts if int(part["size"])]
        for i, layer in enumerate(layers):
            layer["annotations"] = {layout.TITLE: f"{i:06d}.{document.format}"}
        for error in errors:
            layers.append({**error, "annotations": {layout.TITLE: f"errors-{len(layers):06d}"}})
        config = document.model_dump_json(by_alias=True).encode("utf-8")
        self.registry.push_blob(self.repo, config)
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": OUTPUT_ARTIFACT_TYPE,
            "config": layout.descriptor(OUTPUT_CONFIG_TYPE, config),
            "layers": layers,
            "annotations": output_annotations(document, run=tag),
        }
        if subject is not None:
            manifest["subject"] = subject
        return self.registry.put_manifest(self.repo, tag, manifest)

    def version_subject(
        self, version: int, digest: str, artifact: str | None
    ) -> dict[str, Any] | None:
        """The descriptor of the version's manifest (the output's `subject`): the pinned
        artifact when it is in this repository, else the version's tag; None when the manifest
        found is not of that version digest (then the annotations alone name it)."""
        reference = str(version)
        if artifact and artifact.removeprefix("oci://").startswith(
            f"{self.registry.host}/{self.repo}@"
        ):
            reference = artifact.rpartition("@")[2]
        raw = self.registry.get_manifest_bytes(self.repo, reference)
        if raw is None:
            return None
        manifest = _json_object(raw, f"{self.repo}:{reference}")
        if (manifest.get("annotations") or {}).get(DIGEST) != digest:
            log.warning("%s:%s is not version digest %s; no subject", self.repo, reference, digest)
            return None
        return {"mediaType": MANIFEST_TYPE, "digest": digest_bytes(raw), "size": len(raw)}

    def outputs(self, version: int | None = None) -> list[ListedOutput]:
        """Every output in the repository (of `version`), oldest first."""
        prefix = OUTPUT_TAG_PREFIX + (f"{version}-" if version is not None else "")
        found = []
        for tag in sorted(t for t in self.registry.tags(self.repo) if t.startswith(prefix)):
            got = self.registry.get_manifest(self.repo, tag)
            if got is None:  # deleted between the listing and now
                continue
            manifest, digest = got
            declared = (manifest.get("annotations") or {}).get(VERSION)
            if version is not None and declared != str(version):
                continue  # a tag is a hint; the manifest says which version it is
            config = manifest.get("config") or {}
            if config.get("mediaType") != OUTPUT_CONFIG_TYPE:
                continue
            document = OutputManifest.model_validate_json(
                self.registry.fetch_blob(self.repo, str(config["digest"]))
            )
            found.append(ListedOutput(reference=self.reference(digest), manifest=document))
        return sorted(found, key=lambda listed: listed.manifest.created_at)

    def _document(self, manifest: dict[str, Any], where: str) -> OutputManifest:
        config = manifest.get("config") or {}
        if config.get("mediaType") != OUTPUT_CONFIG_TYPE:
            raise CatalogError(f"{where} is not a batch prediction output")
        return OutputManifest.model_validate_json(
            self.registry.fetch_blob(self.repo, str(config["digest"]))
        )

    def _push(self, media: str, data: bytes) -> dict[str, Any]:
        self.registry.push_blob(self.repo, data)
        return layout.descriptor(media, data)


def output_annotations(document: OutputManifest, *, run: str) -> dict[str, str]:
    return {
        MODEL: f"{document.batch_prediction.partition('/')[0]}/{document.model}",
        VERSION: str(document.version),
        DIGEST: document.model_digest,
        APPROVED: "true" if document.approved else "false",
        INPUT_DIGEST: document.input.digest,
        ROWS: str(document.rows),
        ERROR_ROWS: str(document.error_rows),
        BATCH: document.batch_prediction,
        PREDICTIONS_DIGEST: document.output.digest,
        RUN: run,
        layout.CREATED: document.created_at,
    }


def _json_object(raw: bytes, where: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise IntegrityError(f"{where}: manifest is not JSON") from exc
    if not isinstance(value, dict):
        raise IntegrityError(f"{where}: manifest is not a JSON object")
    return value
