"""Building and reading a version's metadata record, the same for every backend.

Both backends number, time-stamp and check metadata.json identically, so a version copied from a
volume to a registry (or back) reads the same wherever it lives.
"""

from __future__ import annotations

import importlib.metadata
import platform
from datetime import UTC, datetime

from pydantic import ValidationError

from modelship.catalog.artifacts import framework_of
from modelship.catalog.base import StagedVersion
from modelship.catalog.digests import version_digest
from modelship.catalog.errors import CatalogError, IntegrityError
from modelship.catalog.models import METADATA_FORMAT, Libraries, VersionMetadata


def parse_metadata(raw: bytes, namespace: str, model: str, version: int) -> VersionMetadata:
    """metadata.json of `namespace/model` `version`; refuse unreadable, newer or misplaced ones."""
    try:
        metadata = VersionMetadata.model_validate_json(raw)
    except ValidationError as exc:
        raise IntegrityError(
            f"metadata of version {version} of {namespace}/{model} is unreadable: {exc}"
        ) from exc
    if metadata.format_version > METADATA_FORMAT:
        raise CatalogError(
            f"version {version} of {namespace}/{model} was written in metadata format "
            f"{metadata.format_version}; this Modelship reads up to {METADATA_FORMAT}"
        )
    if (metadata.namespace, metadata.model, metadata.version) != (namespace, model, version):
        raise IntegrityError(
            f"metadata in {namespace}/{model}/{version} describes "
            f"{metadata.namespace}/{metadata.model}/{metadata.version}"
        )
    return metadata


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_metadata(
    namespace: str, model: str, version: int, files: dict[str, str], staged: StagedVersion
) -> VersionMetadata:
    return VersionMetadata(
        version=version,
        digest=version_digest(files),
        namespace=namespace,
        model=model,
        task=staged.task,
        algorithm=staged.algorithm,
        dataset=staged.dataset,
        features=staged.features,
        target=staged.target,
        metrics=staged.metrics,
        gates=staged.gates,
        evaluation=staged.evaluation,
        files=files,
        training_job=staged.training_job,
        created_at=now(),
        libraries=libraries(),
        framework=framework_of(staged.model),
        production=staged.production,
    )


def libraries() -> Libraries:
    """Versions that matter for unpickling: a reader can tell a mismatch before loading.

    Read from the installed distributions' metadata: importing scikit-learn just for its version
    would add a second to every publish from a process that has not imported it.
    """
    return Libraries(
        python=platform.python_version(),
        sklearn=_distribution_version("scikit-learn"),
        joblib=_distribution_version("joblib"),
        numpy=_distribution_version("numpy"),
        skops=_distribution_version("skops"),
    )


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
