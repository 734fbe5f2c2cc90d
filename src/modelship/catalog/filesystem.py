"""The catalog on a filesystem: a local directory or a mounted PersistentVolumeClaim.

Layout `<root>/<namespace>/<model>/<version>/`. Dot-entries in a model directory are bookkeeping
(the version counter, its lock, staging directories) and never versions.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from modelship.catalog._fs import (
    allocate_version,
    exclusive_lock,
    fsync_dir,
    make_read_only,
    remove_tree,
    write_durably,
)
from modelship.catalog.artifacts import serialize
from modelship.catalog.base import (
    METADATA_FILE,
    Catalog,
    StagedVersion,
    VerifiedVersion,
    check_name,
)
from modelship.catalog.digests import digest_file, version_digest
from modelship.catalog.errors import IntegrityError, StorageError, VersionNotFound
from modelship.catalog.models import VersionMetadata
from modelship.catalog.predictions import (
    MANIFEST_FILE,
    PREDICTIONS_DIR,
    ListedOutput,
    OutputManifest,
)
from modelship.catalog.records import new_metadata, parse_metadata
from modelship.catalog.staging import DELETING_PREFIX, staging_directory, sweep_abandoned
from modelship.contracts.capture import STORE_DIR

log = logging.getLogger(__name__)


class FileCatalog(Catalog):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = root.as_uri()

    def _model_dir(self, namespace: str, model: str) -> Path:
        return self.root / check_name("namespace", namespace) / check_name("model", model)

    def _version_dir(self, namespace: str, model: str, version: int) -> Path:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise VersionNotFound(namespace, model, version)
        return self._model_dir(namespace, model) / str(version)

    def version_uri(self, namespace: str, model: str, version: int) -> str:
        return self._version_dir(namespace, model, version).as_uri()

    # -- writing ---------------------------------------------------------------------------

    def publish(self, namespace: str, model: str, staged: StagedVersion) -> VersionMetadata:
        def describe(files: dict[str, str], version: int) -> VersionMetadata:
            return new_metadata(namespace, model, version, files, staged)

        return self._publish(
            namespace, model, lambda stage: _write_payload(stage, staged), describe
        )

    def import_version(
        self, namespace: str, model: str, source: VerifiedVersion
    ) -> VersionMetadata:
        def stage_files(stage: Path) -> dict[str, str]:
            for name in source.metadata.files:
                write_durably(stage / name, source.read_verified(name))
            return dict(source.metadata.files)

        def describe(files: dict[str, str], version: int) -> VersionMetadata:
            # Same files, same version digest: an approval names the same bytes here too.
            update = {"namespace": namespace, "model": model, "version": version}
            return source.metadata.model_copy(update=update)

        return self._publish(namespace, model, stage_files, describe)

    def _publish(
        self,
        namespace: str,
        model: str,
        stage_files: Callable[[Path], dict[str, str]],
        describe: Callable[[dict[str, str], int], VersionMetadata],
    ) -> VersionMetadata:
        """Stage the files, then number the version (a failed write uses no number), describe
        it, and rename it into place at once."""
        model_dir = self._model_dir(namespace, model)
        try:
            model_dir.mkdir(parents=True, exist_ok=True)
            # Made here, by the publisher's user, so the serving pods that mount it writable
            # (the only writable part of the catalog they get) own what they write into.
            (model_dir / STORE_DIR).mkdir(exist_ok=True)
            sweep_abandoned(model_dir)
            with staging_directory(model_dir) as stage:
                files = stage_files(stage)
                version = allocate_version(model_dir)
                metadata = describe(files, version)
                write_durably(stage / METADATA_FILE, metadata.to_json(indent=2).encode("utf-8"))
                make_read_only(stage)
                fsync_dir(stage)
                # Same parent, fresh number: atomic, and never onto an existing version.
                os.rename(stage, model_dir / str(version))
                fsync_dir(model_dir)
        except OSError as exc:
            raise StorageError(f"cannot publish to {self.uri}/{namespace}/{model}: {exc}") from exc
        log.info("published %s/%s version %d (%s)", namespace, model, version, metadata.digest)
        return metadata

    def prune(self, namespace: str, model: str, keep: int, pinned: set[int]) -> list[int]:
        if keep < 0:
            raise ValueError("keep must be zero or more")
        numbers = self.version_numbers(namespace, model)
        kept = set(numbers[len(numbers) - keep :] if keep else []) | set(pinned)
        doomed = [number for number in numbers if number not in kept]
        if not doomed:
            return []
        model_dir = self._model_dir(namespace, model)
        try:
            with exclusive_lock(model_dir / ".lock"):
                for number in doomed:
                    # Rename first so the version disappears atomically, then delete at leisure.
                    trash = model_dir / f"{DELETING_PREFIX}{number}-{uuid.uuid4().hex}"
                    os.rename(model_dir / str(number), trash)
                    fsync_dir(model_dir)
                    remove_tree(trash)
        except OSError as exc:
            raise StorageError(f"cannot prune {namespace}/{model}: {exc}") from exc
        return doomed

    # -- reading ---------------------------------------------------------------------------

    def list_models(self, namespace: str | None = None) -> list[tuple[str, str]]:
        namespaces = [namespace] if namespace is not None else _visible_dirs(self.root)
        pairs = []
        for ns in namespaces:
            for model in _visible_dirs(self.root / check_name("namespace", ns)):
                pairs.append((ns, model))
        return sorted(pairs)

    def version_numbers(self, namespace: str, model: str) -> list[int]:
        model_dir = self._model_dir(namespace, model)
        try:
            names = os.listdir(model_dir)
        except FileNotFoundError:
            return []
        return sorted(int(name) for name in names if name.isdigit() and int(name) > 0)

    def prediction_outputs(
        self, namespace: str, model: str, version: int | None = None
    ) -> list[ListedOutput]:
        """Outputs in the model's predictions directory (where runs write unless told
        otherwise); one whose manifest cannot be read is left out with a warning."""
        found = []
        base = self._model_dir(namespace, model) / PREDICTIONS_DIR
        for path in sorted(base.glob(f"*/{MANIFEST_FILE}")):
            try:
                document = OutputManifest.model_validate_json(path.read_bytes())
            except (OSError, ValueError) as error:
                log.warning("skipping %s: %s", path, error)
                continue
            if version is None or document.version == version:
                found.append(ListedOutput(reference=path.parent.as_uri(), manifest=document))
        return sorted(found, key=lambda listed: listed.manifest.created_at)

    def get(self, namespace: str, model: str, version: int) -> VersionMetadata:
        version_dir = self._version_dir(namespace, model, version)
        try:
            raw = (version_dir / METADATA_FILE).read_bytes()
        except FileNotFoundError as exc:
            if not version_dir.is_dir():
                raise VersionNotFound(namespace, model, version) from exc
            raise IntegrityError(f"{namespace}/{model} version {version} has no metadata") from exc
        return parse_metadata(raw, namespace, model, version)

    def verify(self, namespace: str, model: str, version: int) -> VersionMetadata:
        metadata = self.get(namespace, model, version)
        version_dir = self._version_dir(namespace, model, version)
        present = {p.name for p in version_dir.iterdir()} - {METADATA_FILE}
        where = f"{namespace}/{model} version {version}"
        if missing := sorted(set(metadata.files) - present):
            raise IntegrityError(f"{where}: missing {', '.join(missing)}")
        if extra := sorted(present - set(metadata.files)):
            raise IntegrityError(f"{where}: unexpected {', '.join(extra)}")
        for name, expected in sorted(metadata.files.items()):
            if digest_file(version_dir / name) != expected:
                raise IntegrityError(f"{where}: {name} does not match its published digest")
        if version_digest(metadata.files) != metadata.digest:
            raise IntegrityError(f"{where}: version digest does not match its files")
        return metadata

    def open_verified(
        self,
        namespace: str,
        model: str,
        version: int,
        expected_digest: str | None = None,
        *,
        pinned: str | None = None,  # a directory is already the most specific reference
    ) -> VerifiedVersion:
        metadata = self.verify(namespace, model, version)
        if expected_digest is not None and metadata.digest != expected_digest:
            raise IntegrityError(
                f"{namespace}/{model} version {version} has digest {metadata.digest}, "
                f"expected {expected_digest}"
            )
        return VerifiedVersion(metadata, self._version_dir(namespace, model, version))


def _write_payload(stage: Path, staged: StagedVersion) -> dict[str, str]:
    """Write the artifact, acceptance set and profile; return their digests as written."""
    model_file, model_bytes = serialize(staged.model, staged.trusted_types)
    write_durably(stage / model_file, model_bytes)
    documents = staged.documents()
    for name, data in documents.items():
        write_durably(stage / name, data)
    return {name: digest_file(stage / name) for name in (model_file, *documents)}


def _visible_dirs(path: Path) -> list[str]:
    try:
        return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except FileNotFoundError:
        return []
