"""The model catalog: immutable, numbered, digest-checked versions of trained models.

See CONTRACT.md in this package for the on-disk layout and formats other components rely on.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from modelship.catalog.artifacts import LEGACY_MODEL_FILE, MODEL_FILE, TRUSTED_TYPES
from modelship.catalog.base import (
    ACCEPTANCE_FILE,
    FEATURES_FILE,
    METADATA_FILE,
    PROFILE_FILE,
    Catalog,
    StagedVersion,
    VerifiedVersion,
)
from modelship.catalog.digests import version_digest
from modelship.catalog.errors import (
    CatalogError,
    IncompatibleArtifactError,
    IntegrityError,
    InvalidNameError,
    StorageError,
    UntrustedArtifactError,
    VersionNotFound,
)
from modelship.catalog.filesystem import FileCatalog
from modelship.catalog.models import (
    AcceptanceSet,
    AlgorithmInfo,
    DatasetInfo,
    EvaluationInfo,
    FeatureInfo,
    FeatureProfile,
    GateResult,
    Libraries,
    Profile,
    TargetInfo,
    VersionMetadata,
)
from modelship.catalog.oci import OciCatalog
from modelship.catalog.registry_uri import registry_at


def open_catalog(uri: str, *, docker_config: str | None = None) -> Catalog:
    """Open the catalog at `file:///abs/path`, a plain path, or `oci://host[:port]/prefix`.

    A registry over plain HTTP (the local cluster's, on loopback) must be asked for explicitly
    with `?plain-http=true`; the query travels with the URI to every pod that reads the catalog.
    Registry credentials come from `<docker_config>/config.json`, by default `$DOCKER_CONFIG`
    (where pods get the Secret named in the operator's settings).
    """
    parsed = urlparse(uri)
    if parsed.scheme == "oci":
        return _open_registry(uri, docker_config)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise CatalogError(f"file catalog URI must be local: {uri}")
        return FileCatalog(Path(unquote(parsed.path)))
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a plain path (or a Windows drive)
        if not uri:
            raise CatalogError("catalog root is empty")
        return FileCatalog(Path(uri).absolute())
    raise CatalogError(f"unsupported catalog URI scheme {parsed.scheme!r} in {uri}")


def _open_registry(uri: str, docker_config: str | None) -> OciCatalog:
    parsed = urlparse(uri)
    if not parsed.netloc:
        raise CatalogError(f"registry catalog URI needs a host: {uri}")
    return OciCatalog(registry_at(uri, docker_config), parsed.path, uri)


__all__ = [
    "ACCEPTANCE_FILE",
    "FEATURES_FILE",
    "LEGACY_MODEL_FILE",
    "METADATA_FILE",
    "MODEL_FILE",
    "PROFILE_FILE",
    "TRUSTED_TYPES",
    "AcceptanceSet",
    "AlgorithmInfo",
    "Catalog",
    "CatalogError",
    "DatasetInfo",
    "EvaluationInfo",
    "FeatureInfo",
    "FeatureProfile",
    "FileCatalog",
    "GateResult",
    "IncompatibleArtifactError",
    "IntegrityError",
    "InvalidNameError",
    "Libraries",
    "OciCatalog",
    "Profile",
    "StagedVersion",
    "StorageError",
    "TargetInfo",
    "UntrustedArtifactError",
    "VerifiedVersion",
    "VersionMetadata",
    "VersionNotFound",
    "open_catalog",
    "version_digest",
]
