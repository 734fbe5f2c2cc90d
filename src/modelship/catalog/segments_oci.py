"""Segments in an OCI registry: one repository per model, one tagged manifest per segment.

The registry is the catalog's default store, and it works across nodes where a volume
(ReadWriteOnce) pins every writer to one node. Each segment is a blob; its manifest
(artifactType `application/vnd.modelship.segment.v1`) names the blob as its only layer and carries
the writer's annotations (model, version, rows, time range), so a registry browser shows what a
segment holds without downloading it. The tag is the segment's name (segments.py), so listing
is one paged tags call and retention needs no manifest reads. Credentials are the catalog's
(`DOCKER_CONFIG`); push rights can be confined to the `-capture` repository.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from modelship.catalog import oci_layout as layout
from modelship.catalog.errors import CatalogError, IntegrityError
from modelship.catalog.registry import MANIFEST_TYPE, Registry
from modelship.catalog.registry_uri import registry_at
from modelship.catalog.segments import SegmentName
from modelship.contracts.capture import SegmentKind

SEGMENT_ARTIFACT_TYPE = "application/vnd.modelship.segment.v1"
SEGMENT_LAYER_TYPE = "application/vnd.modelship.segment.v1.jsonl+gzip"
# Short: the writer thread retries on its next flush, and a hung registry must not make it hold
# an ever larger backlog for a minute per attempt.
_TIMEOUT_SECONDS = 10.0


class RegistrySegmentStore:
    """Segments of one model in `repo` of `registry`."""

    def __init__(self, registry: Registry, repo: str) -> None:
        self.registry = registry
        self.repo = repo

    def write(self, name: SegmentName, data: bytes, annotations: dict[str, str]) -> None:
        blob = self.registry.push_blob(self.repo, data)
        self.registry.push_blob(self.repo, layout.EMPTY)
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": SEGMENT_ARTIFACT_TYPE,
            "config": layout.descriptor(layout.EMPTY_TYPE, layout.EMPTY),
            "layers": [{"mediaType": SEGMENT_LAYER_TYPE, "digest": blob, "size": len(data)}],
            "annotations": {"io.modelship.segment.kind": name.kind, **annotations},
        }
        self.registry.put_manifest(self.repo, name.text, manifest)

    def names(self, kind: SegmentKind) -> list[SegmentName]:
        found = (SegmentName.parse(tag) for tag in self.registry.tags(self.repo))
        return [name for name in found if name is not None and name.kind == kind]

    def read(self, name: SegmentName) -> bytes:
        found = self.registry.get_manifest(self.repo, name.text)
        if found is None:
            raise IntegrityError(f"{self.repo}:{name.text}: segment is missing")
        layers = found[0].get("layers")
        if (
            not isinstance(layers, list)
            or len(layers) != 1
            or layers[0].get("mediaType") != SEGMENT_LAYER_TYPE
        ):
            raise IntegrityError(f"{self.repo}:{name.text}: not a segment manifest")
        return self.registry.fetch_blob(self.repo, str(layers[0]["digest"]))

    def delete(self, name: SegmentName) -> None:
        digest = self.registry.resolve(self.repo, name.text)
        if digest is not None:  # deleting the manifest removes its tag with it
            self.registry.delete_manifest(self.repo, digest)


def open_registry_store(uri: str, docker_config: str | None = None) -> RegistrySegmentStore:
    """`oci://host[:port]/repository[?plain-http=true]`, credentials as the catalog finds them."""
    parsed = urlparse(uri)
    repo = parsed.path.strip("/")
    if not parsed.netloc or not repo:
        raise CatalogError(f"segment store URI needs a host and a repository: {uri}")
    registry = registry_at(uri, docker_config, timeout=_TIMEOUT_SECONDS)
    return RegistrySegmentStore(registry, repo)
