"""Fetching the user's module: from the ConfigMap volume, or from the catalog registry by digest.

Either way the bytes are hashed here and the code container runs exactly those bytes (a copy in
its own directory), so the digest in lineage is the digest of what ran. A ConfigMap's volume is
`optional`: a missing ConfigMap or key starts the pod anyway and fails here with a reason,
instead of a pod stuck mounting until the Job's deadline (which would be retried).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from modelship.api.v1alpha1 import TrainingCodeSpec
from modelship.catalog import CatalogError, IntegrityError, StorageError
from modelship.catalog.digests import digest_bytes
from modelship.contracts.training_code import CODE_FILE
from modelship.training.errors import BadInput, Transient

MAX_CODE_BYTES = 1024 * 1024


class ManifestReader(Protocol):
    """The two registry calls fetching needs (`catalog.registry.Registry` has them)."""

    def get_manifest(self, repo: str, reference: str) -> tuple[dict[str, Any], str] | None: ...

    def fetch_blob(self, repo: str, digest: str) -> bytes: ...


@dataclass(frozen=True)
class Code:
    source: bytes
    digest: str
    origin: str


def from_configmap(code: TrainingCodeSpec, mounted: Path, namespace: str) -> Code:
    """The module the ConfigMap volume put at `mounted/CODE_FILE` (items map the key there)."""
    assert code.config_map is not None
    path = mounted / CODE_FILE
    if not path.is_file():
        raise BadInput(
            "CodeNotFound",
            f"ConfigMap {code.config_map.name!r} in namespace {namespace!r} does not exist or "
            f"has no key {code.config_map.key!r} (training.code.configMap)",
        )
    return _checked(path.read_bytes(), code.source)


def from_registry(code: TrainingCodeSpec, registry: ManifestReader | None) -> Code:
    """The one layer of the manifest `code.oci.digest`; every byte checked against a digest."""
    assert code.oci is not None
    repo, digest = code.oci.repository, code.oci.digest
    if registry is None:
        raise BadInput(
            "CodeSourceUnavailable",
            "training.code.oci needs the catalog to be a registry (the operator's catalog_uri)",
        )
    try:
        found = registry.get_manifest(repo, digest)
        if found is None:
            raise BadInput("CodeNotFound", f"no manifest {repo}@{digest} in the catalog registry")
        layers = found[0].get("layers")
        if not isinstance(layers, list) or len(layers) != 1 or not isinstance(layers[0], dict):
            raise BadInput(
                "InvalidCodeArtifact",
                f"{repo}@{digest} must have exactly one layer (the module's source)",
            )
        source = registry.fetch_blob(repo, str(layers[0].get("digest", "")))
    except IntegrityError as exc:
        raise BadInput("CodeDigestMismatch", f"training.code.oci: {exc}") from exc
    except StorageError as exc:
        raise Transient("CodeSourceUnavailable", f"training.code.oci: {exc}") from exc
    except CatalogError as exc:
        raise BadInput("CodeSourceUnavailable", f"training.code.oci: {exc}") from exc
    return _checked(source, code.source)


def _checked(source: bytes, origin: str) -> Code:
    if len(source) > MAX_CODE_BYTES:
        raise BadInput("InvalidCode", f"{origin}: the module is over {MAX_CODE_BYTES} bytes")
    try:
        source.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput("InvalidCode", f"{origin}: the module is not UTF-8 text: {exc}") from exc
    return Code(source=source, digest=digest_bytes(source), origin=origin)
