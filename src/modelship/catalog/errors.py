"""Exceptions of the catalog.

Readers must be able to tell "this version does not exist" (a user error, say so) from "this
version exists but its bytes are not the ones that were published" (refuse, and never load it),
and both from "the storage itself failed" (worth a retry). One base class lets callers that do
not care catch everything.
"""

from __future__ import annotations


class CatalogError(Exception):
    """Anything the catalog refuses or fails to do."""


class VersionNotFound(CatalogError):  # noqa: N818 - the name the contract publishes
    """The requested model version was never published, or has been pruned."""

    def __init__(self, namespace: str, model: str, version: int) -> None:
        super().__init__(f"version {version} of {namespace}/{model} does not exist in the catalog")
        self.namespace = namespace
        self.model = model
        self.version = version


class IntegrityError(CatalogError):
    """A published version's files do not match the digests recorded when it was published.

    Loading a joblib file executes code, so this is never a warning: the version is unusable.
    """


class InvalidNameError(CatalogError, ValueError):
    """A namespace or model name that could escape the catalog layout (it becomes a path)."""


class StorageError(CatalogError):
    """The storage under the catalog failed (unwritable root, full disk, I/O error)."""


class UntrustedArtifactError(CatalogError):
    """A model artifact that needs types outside the loader's allowlist (or a refused pickle).

    `types` names them, so the TrainingJob's failure says exactly what to allow or avoid.
    """

    def __init__(self, message: str, types: list[str]) -> None:
        super().__init__(message)
        self.types = types


class IncompatibleArtifactError(CatalogError):
    """A model file this process cannot read safely: an unknown library, or one newer than ours.

    Not an integrity problem (the bytes are the published ones): an image with the library the
    version names, at that version or later, serves it.
    """
