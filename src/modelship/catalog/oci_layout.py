"""How a catalog version is laid out in an OCI registry (documented in CONTRACT.md).

One repository per model (`<prefix>/<namespace>/<model>`), one image manifest per version tagged
with its number: a ModelPack-style config (`application/vnd.cncf.model.config.v1+json`), one layer
per file of the version (metadata.json included) titled with the file name, and the version number
and version digest as annotations. The tag `last-version` points at a tiny manifest recording the
highest number ever handed out, so a pruned number is never reused (a registry has no counter).
"""

from __future__ import annotations

import json
from typing import Any

from modelship.catalog.artifacts import MODEL_FILES, model_file
from modelship.catalog.base import METADATA_FILE
from modelship.catalog.digests import digest_bytes
from modelship.catalog.errors import IntegrityError
from modelship.catalog.models import VersionMetadata
from modelship.catalog.registry import MANIFEST_TYPE

ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG_TYPE = "application/vnd.cncf.model.config.v1+json"
WEIGHT_TYPE = "application/vnd.cncf.model.weight.v1.raw"
COUNTER_TYPE = "application/vnd.modelship.version-counter.v1"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
# The config's `format`, by model file name.
FORMATS = {
    "model.skops": "skops",
    "model.ubj": "xgboost-ubjson",
    "model.txt": "lightgbm-text",
    "model.joblib": "joblib",
}

TITLE = "org.opencontainers.image.title"
CREATED = "org.opencontainers.image.created"
VERSION = "io.modelship.version"
DIGEST = "io.modelship.digest"
LAST_VERSION = "io.modelship.last-version"
COUNTER_TAG = "last-version"


def media_type(name: str) -> str:
    if name in MODEL_FILES:
        return WEIGHT_TYPE
    return f"application/vnd.modelship.{name.removesuffix('.json')}.v1+json"


def descriptor(media: str, data: bytes, **annotations: str) -> dict[str, Any]:
    found: dict[str, Any] = {"mediaType": media, "digest": digest_bytes(data), "size": len(data)}
    if annotations:
        found["annotations"] = annotations
    return found


def model_config(metadata: VersionMetadata) -> bytes:
    """The ModelPack-style config blob: what the model is, and its files' digests in order."""
    document = {
        "descriptor": {
            "name": f"{metadata.namespace}/{metadata.model}",
            "version": str(metadata.version),
            "createdAt": metadata.created_at,
        },
        "config": {
            "architecture": metadata.algorithm.name,
            "format": FORMATS[model_file(metadata.files)],
            "task": metadata.task,
        },
        "modelfs": {"type": "layers", "diffIds": [d for _, d in sorted(metadata.files.items())]},
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def version_manifest(
    metadata: VersionMetadata, metadata_bytes: bytes, config: bytes, sizes: dict[str, int]
) -> dict[str, Any]:
    layers = [
        {
            "mediaType": media_type(name),
            "digest": digest,
            "size": sizes[name],
            "annotations": {TITLE: name},
        }
        for name, digest in sorted(metadata.files.items())
    ]
    layers.append(descriptor(media_type(METADATA_FILE), metadata_bytes, **{TITLE: METADATA_FILE}))
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": descriptor(CONFIG_TYPE, config),
        "layers": layers,
        "annotations": {
            VERSION: str(metadata.version),
            DIGEST: metadata.digest,
            CREATED: metadata.created_at,
        },
    }


def counter_manifest(last: int) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": COUNTER_TYPE,
        "config": descriptor(EMPTY_TYPE, EMPTY),
        "layers": [descriptor(EMPTY_TYPE, EMPTY)],
        "annotations": {LAST_VERSION: str(last)},
    }


def counter_value(manifest: dict[str, Any] | None) -> int:
    if manifest is None:
        return 0
    value = str(manifest.get("annotations", {}).get(LAST_VERSION, "0"))
    return int(value) if value.isdigit() else 0


def layers_by_title(manifest: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """File name -> layer descriptor; a layer without a safe title is a damaged version."""
    found: dict[str, dict[str, Any]] = {}
    for layer in manifest.get("layers") or []:
        title = str((layer.get("annotations") or {}).get(TITLE, ""))
        if not title or "/" in title or title.startswith(".") or title in found:
            raise IntegrityError(f"{where}: manifest has a layer without a usable title")
        found[title] = layer
    return found


def check_annotations(manifest: dict[str, Any], version: int, where: str) -> str:
    """The version digest the manifest declares, after checking it is the manifest of `version`.

    A tag that was moved onto another version's manifest shows here: the manifest says which
    version it is, and that is not the number the tag claims.
    """
    annotations = manifest.get("annotations") or {}
    declared = str(annotations.get(VERSION, ""))
    if declared != str(version):
        raise IntegrityError(
            f"{where}: the tag was moved to the manifest of version {declared or '?'}; "
            "not following it"
        )
    return str(annotations.get(DIGEST, ""))
