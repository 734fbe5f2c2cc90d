"""The model catalog: immutable, numbered, digest-checked versions of trained models.

See CONTRACT.md in this package for the on-disk layout and formats other components rely on.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from modelship.catalog.artifacts import LEGACY_MODEL_FILE, MODEL_FILE, TRUSTED_TYPES
from modelship.catalog.base import (
    ACCEPTANCE_FILE,
    METADATA_FILE,
    PROFILE_FILE,
    Catalog,
    StagedVersion,
    VerifiedVersion,
)
from modelship.catalog.digests import version_digest
from modelship.catalog.errors import (
    CatalogError,
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


def open_catalog(uri: str) -> Catalog:
    """Open the catalog at `file:///abs/path` or a plain path; other schemes are not built yet."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise CatalogError(f"file catalog URI must be local: {uri}")
        return FileCatalog(Path(unquote(parsed.path)))
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a plain path (or a Windows drive)
        if not uri:
            raise CatalogError("catalog root is empty")
        return FileCatalog(Path(uri).absolute())
    raise CatalogError(f"unsupported catalog URI scheme {parsed.scheme!r} in {uri}")


__all__ = [
    "ACCEPTANCE_FILE",
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
    "IntegrityError",
    "InvalidNameError",
    "Libraries",
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
