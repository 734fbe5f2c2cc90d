"""The OCI catalog against a real Distribution registry: the guarantees of CONTRACT.md, again.

Numbered, immutable, all-or-nothing versions; every byte verified before use; a version pinned by
manifest digest is read from that manifest even when its tag has moved (which is reported); a
changed blob or manifest in the registry is refused; pruned numbers are never reused.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_iris

from modelship.catalog import (
    IntegrityError,
    OciCatalog,
    VersionNotFound,
    open_catalog,
)
from modelship.catalog import oci_layout as layout
from support.factories import iris_staged_version
from support.registry import LocalRegistry, local_registry

pytestmark = pytest.mark.integration

NS, MODEL = "team-a", "iris"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    with local_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture
def catalog(registry: LocalRegistry, request: pytest.FixtureRequest, tmp_path: Path) -> OciCatalog:
    """A catalog under a prefix of its own, so tests sharing the registry never meet."""
    prefix = request.node.name.replace("_", "-").replace("[", "-").replace("]", "")[:60]
    opened = open_catalog(registry.catalog_uri.replace("/modelship?", f"/{prefix}?"))
    assert isinstance(opened, OciCatalog)
    opened.pull_dir = tmp_path  # pulled copies go away with the test's directory
    return opened


def blob_path(registry: LocalRegistry, digest: str) -> Path:
    hexdigest = digest.removeprefix("sha256:")
    root = registry.storage / "docker/registry/v2/blobs/sha256"
    return root / hexdigest[:2] / hexdigest / "data"


def test_publish_then_pull_by_digest_a_working_model(catalog: OciCatalog) -> None:
    first = catalog.publish(NS, MODEL, iris_staged_version())
    second = catalog.publish(NS, MODEL, iris_staged_version())
    pinned = catalog.artifact_uri(NS, MODEL, 1)

    opened = catalog.open_verified(NS, MODEL, 1, first.digest, pinned=pinned)

    assert (first.version, second.version) == (1, 2)
    assert pinned.startswith(
        f"oci://{catalog.registry.host}/{catalog.repository(NS, MODEL)}@sha256:"
    )
    assert catalog.version_numbers(NS, MODEL) == [1, 2]
    assert catalog.get(NS, MODEL, 1) == first
    assert catalog.verify(NS, MODEL, 2) == second
    assert (NS, MODEL) in catalog.list_models()
    x, y = load_iris(return_X_y=True)
    assert (opened.load_model().predict(x) == y).all()
    assert opened.acceptance().targets == y[:5].tolist()
    assert opened.warnings == []


def test_the_manifest_is_modelpack_shaped_with_one_layer_per_file(catalog: OciCatalog) -> None:
    published = catalog.publish(NS, MODEL, iris_staged_version())
    repo = catalog.repository(NS, MODEL)

    manifest, _ = catalog.registry.get_manifest(repo, "1") or ({}, "")

    assert manifest["artifactType"] == layout.ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == layout.CONFIG_TYPE
    titles = {layer["annotations"][layout.TITLE]: layer["digest"] for layer in manifest["layers"]}
    assert set(titles) == {*published.files, "metadata.json"}
    assert manifest["annotations"][layout.VERSION] == "1"
    assert manifest["annotations"][layout.DIGEST] == published.digest


def test_a_moved_tag_is_reported_and_never_followed(catalog: OciCatalog) -> None:
    original = catalog.publish(NS, MODEL, iris_staged_version())
    pinned = catalog.artifact_uri(NS, MODEL, 1)
    catalog.publish(NS, MODEL, iris_staged_version(metrics={"accuracy": 0.5}))
    repo = catalog.repository(NS, MODEL)
    other, _ = catalog.registry.get_manifest(repo, "2") or ({}, "")
    catalog.registry.put_manifest(repo, "1", other)  # someone re-tags 1 onto version 2

    opened = catalog.open_verified(NS, MODEL, 1, original.digest, pinned=pinned)

    assert opened.metadata.metrics == original.metrics
    assert "not the pinned" in opened.warnings[0]
    with pytest.raises(IntegrityError, match="tag was moved"):
        catalog.verify(NS, MODEL, 1)


def test_a_changed_blob_is_refused(
    catalog: OciCatalog, registry: LocalRegistry, tmp_path: Path
) -> None:
    published = catalog.publish(NS, MODEL, iris_staged_version())
    pinned = catalog.artifact_uri(NS, MODEL, 1)
    path = blob_path(registry, published.files["model.skops"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(IntegrityError, match="does not match"):
        catalog.open_verified(NS, MODEL, 1, published.digest, pinned=pinned)
    assert list(tmp_path.glob("modelship-*")) == []  # no partial pull is left to load from
    with pytest.raises(IntegrityError):
        catalog.verify(NS, MODEL, 1)


def test_a_changed_manifest_is_refused(catalog: OciCatalog, registry: LocalRegistry) -> None:
    published = catalog.publish(NS, MODEL, iris_staged_version())
    pinned = catalog.artifact_uri(NS, MODEL, 1)
    digest = pinned.rpartition("@")[2]
    path = blob_path(registry, digest)
    manifest = json.loads(path.read_bytes())
    manifest["annotations"]["io.modelship.note"] = "tampered"
    path.write_bytes(json.dumps(manifest).encode())

    with pytest.raises(IntegrityError, match="different manifest"):
        catalog.open_verified(NS, MODEL, 1, published.digest, pinned=pinned)


def test_a_version_digest_other_than_the_approved_one_is_refused(catalog: OciCatalog) -> None:
    catalog.publish(NS, MODEL, iris_staged_version())

    with pytest.raises(IntegrityError, match="expected"):
        catalog.open_verified(NS, MODEL, 1, "sha256:" + "0" * 64)


def test_pruned_numbers_are_never_reused(catalog: OciCatalog) -> None:
    for _ in range(3):
        catalog.publish(NS, MODEL, iris_staged_version())

    removed = catalog.prune(NS, MODEL, keep=0, pinned={2})

    assert removed == [1, 3]
    assert catalog.version_numbers(NS, MODEL) == [2]
    with pytest.raises(VersionNotFound):
        catalog.get(NS, MODEL, 3)
    assert catalog.publish(NS, MODEL, iris_staged_version()).version == 4


def test_copy_to_another_namespace_keeps_the_version_digest(catalog: OciCatalog) -> None:
    original = catalog.publish(NS, MODEL, iris_staged_version())

    copied = catalog.copy_within((NS, MODEL, 1), "prod", MODEL)

    assert (copied.namespace, copied.version, copied.digest) == ("prod", 1, original.digest)
    assert catalog.verify("prod", MODEL, 1) == copied
    assert sorted(catalog.list_models()) == [("prod", MODEL), (NS, MODEL)]


def test_an_unreachable_registry_is_a_storage_error() -> None:
    from modelship.catalog import StorageError

    catalog = open_catalog("oci://127.0.0.1:9/none?plain-http=true")
    with pytest.raises(StorageError):
        catalog.version_numbers(NS, MODEL)


def test_pulled_files_match_what_was_published(catalog: OciCatalog) -> None:
    published = catalog.publish(NS, MODEL, iris_staged_version())
    opened = catalog.open_verified(NS, MODEL, 1, pinned=catalog.artifact_uri(NS, MODEL, 1))

    profile = opened.profile()

    assert sorted(p.name for p in opened.path.iterdir()) == sorted(
        [*published.files, "metadata.json"]
    )
    assert np.isclose(sum(profile.features[0].frequencies), 1.0)
    assert httpx.get(f"http://{catalog.registry.host}/v2/").status_code == 200


def test_serving_loads_a_registry_version_only_when_pinned_by_digest(
    catalog: OciCatalog, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from modelship.serving.loader import LoadFailedError, load_version
    from modelship.serving.settings import ServingSettings

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the server pulls to
    published = catalog.publish(NS, MODEL, iris_staged_version())
    settings = ServingSettings(
        model_name=MODEL,
        namespace=NS,
        version=1,
        expected_digest=published.digest,
        catalog_root=catalog.uri,
    )

    with pytest.raises(LoadFailedError, match="pinned by digest"):
        load_version(settings)
    pinned = settings.model_copy(update={"artifact": catalog.artifact_uri(NS, MODEL, 1)})
    assert load_version(pinned).metadata == published


def test_serving_stays_unready_when_the_pinned_manifest_was_changed(
    catalog: OciCatalog, registry: LocalRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from modelship.serving.loader import LoadFailedError, load_version
    from modelship.serving.settings import ServingSettings

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the server pulls to
    published = catalog.publish(NS, MODEL, iris_staged_version())
    pinned = catalog.artifact_uri(NS, MODEL, 1)
    path = blob_path(registry, pinned.rpartition("@")[2])
    manifest = json.loads(path.read_bytes())
    manifest["layers"][0]["annotations"]["org.opencontainers.image.title"] = "evil.skops"
    path.write_bytes(json.dumps(manifest).encode())
    settings = ServingSettings(
        model_name=MODEL,
        namespace=NS,
        version=1,
        expected_digest=published.digest,
        catalog_root=catalog.uri,
        artifact=pinned,
    )

    with pytest.raises(LoadFailedError, match="different manifest"):
        load_version(settings)
