"""The catalog in an OCI registry: one repository per model, one manifest per version.

Every guarantee of CONTRACT.md holds as for a volume:
- numbers are allocated by the one writer a Model has (its single active TrainingJob) as
  max(tags, `last-version`) + 1, and a publish refuses a number whose tag already exists;
- a publish is all-or-nothing: blobs first (invisible until referenced), then one manifest PUT
  that makes the version appear under its tag, then the counter;
- readers check every blob against its descriptor, every file against metadata.json, and the
  version digest — before a byte is handed to the loader;
- serving and acceptance name the manifest by digest (`repo@sha256:…`): a tag moved since is
  noticed, reported and never followed.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from modelship.catalog import oci_layout as layout
from modelship.catalog.artifacts import serialize
from modelship.catalog.base import (
    METADATA_FILE,
    Catalog,
    StagedVersion,
    VerifiedVersion,
    check_name,
)
from modelship.catalog.digests import PREFIX, version_digest
from modelship.catalog.errors import IntegrityError, StorageError, VersionNotFound
from modelship.catalog.models import VersionMetadata
from modelship.catalog.predictions import ListedOutput
from modelship.catalog.predictions_oci import RegistryPredictionStore
from modelship.catalog.records import new_metadata, parse_metadata
from modelship.catalog.registry import Registry

log = logging.getLogger(__name__)


class OciCatalog(Catalog):
    def __init__(self, registry: Registry, prefix: str, uri: str) -> None:
        self.registry = registry
        self.prefix = prefix.strip("/")
        self.uri = uri
        self._published: dict[tuple[str, str, int], str] = {}
        self.pull_dir: Path | None = None
        """Where `open_verified` pulls to (a fresh directory each time); None: the temp dir,
        which in a pod is the `emptyDir` mounted at /tmp."""

    def repository(self, namespace: str, model: str) -> str:
        parts = [self.prefix, check_name("namespace", namespace), check_name("model", model)]
        return "/".join(part for part in parts if part)

    def version_uri(self, namespace: str, model: str, version: int) -> str:
        return f"oci://{self.registry.host}/{self.repository(namespace, model)}:{version}"

    def artifact_uri(self, namespace: str, model: str, version: int) -> str:
        """The version pinned by manifest digest: what status records and pods pull."""
        digest = self._published.get((namespace, model, version))
        repo = self.repository(namespace, model)
        if digest is None:
            digest = self.registry.resolve(repo, str(version))
            if digest is None:
                raise VersionNotFound(namespace, model, version)
        return f"oci://{self.registry.host}/{repo}@{digest}"

    # -- writing ---------------------------------------------------------------------------

    def publish(self, namespace: str, model: str, staged: StagedVersion) -> VersionMetadata:
        model_file, model_bytes = serialize(staged.model, staged.trusted_types)
        payload = {
            model_file: model_bytes,
            **staged.documents(),
        }
        repo = self.repository(namespace, model)
        files = {name: self.registry.push_blob(repo, data) for name, data in payload.items()}
        version = self._allocate(repo)
        metadata = new_metadata(namespace, model, version, files, staged)
        sizes = {name: len(data) for name, data in payload.items()}
        self._put_version(repo, metadata, sizes)
        log.info("published %s version %d (%s)", repo, version, metadata.digest)
        return metadata

    def import_version(
        self, namespace: str, model: str, source: VerifiedVersion
    ) -> VersionMetadata:
        """Publish a verified version of another catalog (or namespace) under a new number."""
        repo = self.repository(namespace, model)
        sizes = {}
        for name in source.metadata.files:
            data = source.read_verified(name)
            self.registry.push_blob(repo, data)
            sizes[name] = len(data)
        metadata = self._renumbered(namespace, model, source.metadata, self._allocate(repo))
        self._put_version(repo, metadata, sizes)
        return metadata

    def copy_within(
        self, source: tuple[str, str, int], namespace: str, model: str, pinned: str | None = None
    ) -> VersionMetadata:
        """Copy a version to another repository of this registry by mounting its blobs."""
        src_ns, src_model, src_version = source
        src_repo = self.repository(src_ns, src_model)
        original = self.verify(src_ns, src_model, src_version, pinned=pinned)
        repo = self.repository(namespace, model)
        manifest, _ = self._manifest(src_ns, src_model, src_version, pinned)
        sizes = {}
        for name, layer in layout.layers_by_title(manifest, src_repo).items():
            if name != METADATA_FILE:
                self.registry.mount_blob(repo, layer["digest"], src_repo)
                sizes[name] = int(layer["size"])
        metadata = self._renumbered(namespace, model, original, self._allocate(repo))
        self._put_version(repo, metadata, sizes)
        return metadata

    def _renumbered(
        self, namespace: str, model: str, original: VersionMetadata, version: int
    ) -> VersionMetadata:
        # Same files, so the same version digest: an approval of the digest means the same bytes.
        return original.model_copy(
            update={"namespace": namespace, "model": model, "version": version}
        )

    def _allocate(self, repo: str) -> int:
        numbers = [int(tag) for tag in self.registry.tags(repo) if tag.isdigit()]
        counter = self.registry.get_manifest(repo, layout.COUNTER_TAG)
        return max([layout.counter_value(counter[0] if counter else None), *numbers], default=0) + 1

    def _put_version(self, repo: str, metadata: VersionMetadata, sizes: dict[str, int]) -> None:
        metadata_bytes = metadata.to_json(indent=2).encode("utf-8")
        config = layout.model_config(metadata)
        self.registry.push_blob(repo, metadata_bytes)
        self.registry.push_blob(repo, config)
        manifest = layout.version_manifest(metadata, metadata_bytes, config, sizes)
        tag = str(metadata.version)
        if self.registry.resolve(repo, tag) is not None:
            raise StorageError(f"{repo}: version {tag} was published meanwhile by another writer")
        digest = self.registry.put_manifest(repo, tag, manifest)
        self.registry.push_blob(repo, layout.EMPTY)
        self.registry.put_manifest(repo, layout.COUNTER_TAG, layout.counter_manifest(int(tag)))
        self._published[(metadata.namespace, metadata.model, metadata.version)] = digest

    def prune(self, namespace: str, model: str, keep: int, pinned: set[int]) -> list[int]:
        if keep < 0:
            raise ValueError("keep must be zero or more")
        numbers = self.version_numbers(namespace, model)
        kept = set(numbers[len(numbers) - keep :] if keep else []) | set(pinned)
        doomed = [number for number in numbers if number not in kept]
        repo = self.repository(namespace, model)
        for number in doomed:
            digest = self.registry.resolve(repo, str(number))
            if digest is not None:  # deleting the manifest removes its tag with it
                self.registry.delete_manifest(repo, digest)
        return doomed

    # -- reading ---------------------------------------------------------------------------

    def list_models(self, namespace: str | None = None) -> list[tuple[str, str]]:
        lead = f"{self.prefix}/" if self.prefix else ""
        pairs = []
        for repo in self.registry.repositories():
            if not repo.startswith(lead):
                continue
            parts = repo[len(lead) :].split("/")
            if len(parts) == 2 and (namespace is None or parts[0] == namespace):
                pairs.append((parts[0], parts[1]))
        return sorted(pairs)

    def version_numbers(self, namespace: str, model: str) -> list[int]:
        tags = self.registry.tags(self.repository(namespace, model))
        return sorted(int(tag) for tag in tags if tag.isdigit() and int(tag) > 0)

    def _manifest(
        self, namespace: str, model: str, version: int, pinned: str | None
    ) -> tuple[dict[str, Any], str]:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise VersionNotFound(namespace, model, version)
        repo = self.repository(namespace, model)
        where = f"{repo}:{version}"
        reference = self._pinned_digest(repo, pinned) if pinned else str(version)
        found = self.registry.get_manifest(repo, reference)
        if found is None:
            if pinned:
                raise IntegrityError(f"{where}: the pinned manifest {reference} is gone")
            raise VersionNotFound(namespace, model, version)
        layout.check_annotations(found[0], version, f"{repo}@{found[1]}")
        return found

    def _pinned_digest(self, repo: str, pinned: str) -> str:
        """`sha256:…` or `oci://host/repo@sha256:…` naming this very repository."""
        reference, _, digest = pinned.rpartition("@")
        if reference and reference.removeprefix("oci://") != f"{self.registry.host}/{repo}":
            raise IntegrityError(f"pinned artifact {pinned} is not in {repo}")
        if not digest.startswith(PREFIX):
            raise IntegrityError(f"pinned artifact {pinned} does not name a digest")
        return digest

    def predictions(self, namespace: str, model: str) -> RegistryPredictionStore:
        """Batch prediction parts and outputs, kept beside the versions they came from."""
        return RegistryPredictionStore(self.registry, self.repository(namespace, model))

    def prediction_outputs(
        self, namespace: str, model: str, version: int | None = None
    ) -> list[ListedOutput]:
        return self.predictions(namespace, model).outputs(version)

    def moved_tag(self, namespace: str, model: str, version: int, pinned: str) -> str | None:
        """A report if the version's tag no longer points at the pinned manifest, else None."""
        repo = self.repository(namespace, model)
        digest = self._pinned_digest(repo, pinned)
        now = self.registry.resolve(repo, str(version))
        if now == digest:
            return None
        return (
            f"{repo}:{version} now points at {now or 'nothing'}, not the pinned {digest}; "
            "the pinned manifest is used and the tag is not followed"
        )

    def get(
        self, namespace: str, model: str, version: int, *, pinned: str | None = None
    ) -> VersionMetadata:
        manifest, digest = self._manifest(namespace, model, version, pinned)
        return self._metadata(namespace, model, version, manifest, digest)[0]

    def _metadata(
        self, namespace: str, model: str, version: int, manifest: dict[str, Any], digest: str
    ) -> tuple[VersionMetadata, bytes, dict[str, dict[str, Any]]]:
        repo = self.repository(namespace, model)
        where = f"{repo}@{digest}"
        layers = layout.layers_by_title(manifest, where)
        if METADATA_FILE not in layers:
            raise IntegrityError(f"{where}: no metadata layer")
        raw = self.registry.fetch_blob(repo, layers[METADATA_FILE]["digest"])
        metadata = parse_metadata(raw, namespace, model, version)
        if layout.check_annotations(manifest, version, where) != metadata.digest:
            raise IntegrityError(f"{where}: annotated digest differs from metadata.json")
        return metadata, raw, layers

    def verify(
        self, namespace: str, model: str, version: int, *, pinned: str | None = None
    ) -> VersionMetadata:
        return self._fetch(namespace, model, version, pinned, into=None)

    def _fetch(
        self, namespace: str, model: str, version: int, pinned: str | None, into: Path | None
    ) -> VersionMetadata:
        """Check (and with `into`, download) every file; IntegrityError on any difference."""
        manifest, digest = self._manifest(namespace, model, version, pinned)
        metadata, raw, layers = self._metadata(namespace, model, version, manifest, digest)
        repo = self.repository(namespace, model)
        where = f"{repo}:{version}"
        present = set(layers) - {METADATA_FILE}
        if missing := sorted(set(metadata.files) - present):
            raise IntegrityError(f"{where}: missing {', '.join(missing)}")
        if extra := sorted(present - set(metadata.files)):
            raise IntegrityError(f"{where}: unexpected {', '.join(extra)}")
        for name, expected in sorted(metadata.files.items()):
            if layers[name]["digest"] != expected:
                raise IntegrityError(f"{where}: {name} does not match its published digest")
            if into is None:
                self.registry.check_blob(repo, expected)
            else:
                self.registry.fetch_blob_to(repo, expected, into / name)
        if version_digest(metadata.files) != metadata.digest:
            raise IntegrityError(f"{where}: version digest does not match its files")
        if into is not None:
            (into / METADATA_FILE).write_bytes(raw)
        return metadata

    def open_verified(
        self,
        namespace: str,
        model: str,
        version: int,
        expected_digest: str | None = None,
        *,
        pinned: str | None = None,
    ) -> VerifiedVersion:
        """Pull the version (by digest when pinned) into a fresh directory, verified."""
        into = Path(
            tempfile.mkdtemp(prefix=f"modelship-{namespace}-{model}-{version}-", dir=self.pull_dir)
        )
        try:
            metadata = self._fetch(namespace, model, version, pinned, into)
        except BaseException:
            shutil.rmtree(into, ignore_errors=True)  # nothing unverified stays behind
            raise
        if expected_digest is not None and metadata.digest != expected_digest:
            raise IntegrityError(
                f"{namespace}/{model} version {version} has digest {metadata.digest}, "
                f"expected {expected_digest}"
            )
        handle = VerifiedVersion(metadata, into)
        if pinned and (report := self.moved_tag(namespace, model, version, pinned)):
            log.warning("%s", report)
            handle.warnings.append(report)
        return handle
