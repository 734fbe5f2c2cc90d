"""The catalog as its readers and writers see it: real artifacts in a temporary directory."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris

from modelship.catalog import (
    AcceptanceSet,
    CatalogError,
    FeatureProfile,
    FileCatalog,
    IntegrityError,
    InvalidNameError,
    StorageError,
    UntrustedArtifactError,
    VersionNotFound,
    open_catalog,
    version_digest,
)
from modelship.catalog.segments import default_store_uri
from support.factories import iris_staged_version

NS, MODEL = "team-a", "iris"


@pytest.fixture
def catalog(tmp_path: Path) -> FileCatalog:
    return FileCatalog(tmp_path / "catalog")


def version_dir(catalog: FileCatalog, version: int) -> Path:
    return catalog.root / NS / MODEL / str(version)


def test_publish_then_read_back_a_verified_working_model(catalog: FileCatalog) -> None:
    published = catalog.publish(NS, MODEL, iris_staged_version())

    assert published.version == 1
    assert published.digest == version_digest(published.files)
    assert set(published.files) == {"model.skops", "acceptance.json", "profile.json"}
    assert catalog.get(NS, MODEL, 1) == published
    assert catalog.verify(NS, MODEL, 1) == published
    opened = catalog.open_verified(NS, MODEL, 1, expected_digest=published.digest)
    x, y = load_iris(return_X_y=True)
    assert (opened.load_model().predict(x) == y).all()
    assert opened.acceptance().targets == y[:5].tolist()
    assert opened.profile().features[0].edges == [0.0, 4.0, 8.0]
    assert published.training_job == "iris-abc12"
    assert published.libraries.sklearn
    assert published.created_at.endswith("Z")


def test_metadata_json_is_camel_case(catalog: FileCatalog) -> None:
    catalog.publish(NS, MODEL, iris_staged_version())

    text = (version_dir(catalog, 1) / "metadata.json").read_text()

    assert '"trainingJob": "iris-abc12"' in text
    assert '"createdAt"' in text
    assert '"formatVersion": 1' in text


def test_published_versions_are_read_only(catalog: FileCatalog) -> None:
    catalog.publish(NS, MODEL, iris_staged_version())

    directory = version_dir(catalog, 1)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o555
    assert {stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()} == {0o444}


def test_versions_count_up_and_are_listed_in_order(catalog: FileCatalog) -> None:
    for _ in range(3):
        catalog.publish(NS, MODEL, iris_staged_version())

    assert [m.version for m in catalog.list_versions(NS, MODEL)] == [1, 2, 3]
    assert catalog.list_models() == [(NS, MODEL)]
    assert catalog.list_versions(NS, "other") == []


def test_pruned_numbers_are_never_reused(catalog: FileCatalog) -> None:
    for _ in range(3):
        catalog.publish(NS, MODEL, iris_staged_version())

    assert catalog.prune(NS, MODEL, keep=0, pinned=set()) == [1, 2, 3]

    assert catalog.publish(NS, MODEL, iris_staged_version()).version == 4


def test_prune_keeps_the_newest_and_the_pinned(catalog: FileCatalog) -> None:
    for _ in range(5):
        catalog.publish(NS, MODEL, iris_staged_version())

    removed = catalog.prune(NS, MODEL, keep=2, pinned={1})

    assert removed == [2, 3]
    assert catalog.version_numbers(NS, MODEL) == [1, 4, 5]
    assert not [p for p in (catalog.root / NS / MODEL).iterdir() if p.name.startswith(".del")]


def test_one_flipped_byte_makes_every_reader_refuse(catalog: FileCatalog) -> None:
    catalog.publish(NS, MODEL, iris_staged_version())
    handle = catalog.open_verified(NS, MODEL, 1)  # verified before the tampering
    artifact = version_dir(catalog, 1) / "model.skops"
    artifact.chmod(0o644)
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.write_bytes(bytes(data))

    with pytest.raises(IntegrityError, match=r"model\.skops"):
        catalog.verify(NS, MODEL, 1)
    with pytest.raises(IntegrityError):
        catalog.open_verified(NS, MODEL, 1)
    with pytest.raises(IntegrityError):
        handle.load_model()


def test_a_missing_file_is_an_integrity_error(catalog: FileCatalog) -> None:
    catalog.publish(NS, MODEL, iris_staged_version())
    directory = version_dir(catalog, 1)
    directory.chmod(0o755)
    (directory / "profile.json").unlink()

    with pytest.raises(IntegrityError, match=r"missing profile\.json"):
        catalog.verify(NS, MODEL, 1)


def test_an_extra_file_is_an_integrity_error(catalog: FileCatalog) -> None:
    catalog.publish(NS, MODEL, iris_staged_version())
    directory = version_dir(catalog, 1)
    directory.chmod(0o755)
    (directory / "backdoor.py").write_text("print('hi')")

    with pytest.raises(IntegrityError, match=r"unexpected backdoor\.py"):
        catalog.verify(NS, MODEL, 1)


def test_an_unexpected_version_digest_is_refused(catalog: FileCatalog) -> None:
    catalog.publish(NS, MODEL, iris_staged_version())

    with pytest.raises(IntegrityError, match="expected sha256:beef"):
        catalog.open_verified(NS, MODEL, 1, expected_digest="sha256:beef")


def test_rewritten_metadata_digests_do_not_pass_for_the_approved_digest(
    catalog: FileCatalog,
) -> None:
    """Swapping the artifact *and* its recorded digests is caught by the approved digest."""
    approved = catalog.publish(NS, MODEL, iris_staged_version()).digest
    other = FileCatalog(catalog.root.parent / "other")
    other.publish(NS, MODEL, iris_staged_version(model={"not": "the model"}))
    target, source = version_dir(catalog, 1), version_dir(other, 1)
    target.chmod(0o755)
    for name in ("model.skops", "metadata.json"):
        (target / name).chmod(0o644)
        (target / name).write_bytes((source / name).read_bytes())

    assert catalog.verify(NS, MODEL, 1).digest != approved
    with pytest.raises(IntegrityError):
        catalog.open_verified(NS, MODEL, 1, expected_digest=approved)


@pytest.mark.parametrize("version", [1, 7, 0, -1])
def test_absent_versions_are_not_found(catalog: FileCatalog, version: int) -> None:
    with pytest.raises(VersionNotFound):
        catalog.get(NS, MODEL, version)
    with pytest.raises(VersionNotFound):
        catalog.open_verified(NS, MODEL, version)


def test_a_crash_while_staging_leaves_nothing_visible(catalog: FileCatalog) -> None:
    class Unpicklable:
        def __reduce__(self) -> Any:
            raise RuntimeError("disk on fire")

    with pytest.raises(UntrustedArtifactError, match="disk on fire"):
        catalog.publish(NS, MODEL, iris_staged_version(model=Unpicklable()))

    assert catalog.version_numbers(NS, MODEL) == []
    leftovers = [p.name for p in (catalog.root / NS / MODEL).iterdir() if p.name.startswith(".st")]
    assert leftovers == []
    assert catalog.publish(NS, MODEL, iris_staged_version()).version == 1


def test_an_unwritable_root_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    with pytest.raises(StorageError):
        FileCatalog(blocker / "catalog").publish(NS, MODEL, iris_staged_version())


@pytest.mark.parametrize("name", ["..", "../etc", "a/b", "Upper", ".hidden", ""])
def test_names_that_could_escape_the_layout_are_refused(catalog: FileCatalog, name: str) -> None:
    with pytest.raises(InvalidNameError):
        catalog.publish(name, MODEL, iris_staged_version())
    with pytest.raises(InvalidNameError):
        catalog.get(NS, name, 1)


def test_unreadable_metadata_is_skipped_in_listings_but_fails_verify(catalog: FileCatalog) -> None:
    catalog.publish(NS, MODEL, iris_staged_version())
    catalog.publish(NS, MODEL, iris_staged_version())
    broken = version_dir(catalog, 1) / "metadata.json"
    broken.chmod(0o644)
    broken.write_text("{not json")

    assert [m.version for m in catalog.list_versions(NS, MODEL)] == [2]
    with pytest.raises(IntegrityError, match="unreadable"):
        catalog.verify(NS, MODEL, 1)


def test_latest_can_require_passed_gates(catalog: FileCatalog) -> None:
    catalog.publish(NS, MODEL, iris_staged_version(passed=True))
    catalog.publish(NS, MODEL, iris_staged_version(passed=False))

    assert catalog.latest(NS, MODEL).version == 2  # type: ignore[union-attr]
    assert catalog.latest(NS, MODEL, passed_gates=True).version == 1  # type: ignore[union-attr]
    assert catalog.latest(NS, "nothing") is None


def test_open_catalog_accepts_file_uris_and_paths(tmp_path: Path) -> None:
    by_uri = open_catalog((tmp_path / "c").as_uri())
    by_path = open_catalog(str(tmp_path / "c"))

    assert isinstance(by_uri, FileCatalog) and isinstance(by_path, FileCatalog)
    assert by_uri.root == by_path.root == tmp_path / "c"
    with pytest.raises(CatalogError, match="unsupported"):
        open_catalog("s3://bucket/catalog")


def test_profile_and_acceptance_documents_are_validated() -> None:
    with pytest.raises(ValueError, match="len"):
        FeatureProfile(name="f", edges=[0.0, 1.0], frequencies=[0.5, 0.5])
    with pytest.raises(ValueError, match="finite"):
        FeatureProfile(name="f", edges=[0.0, float(np.inf)], frequencies=[1.0])
    with pytest.raises(ValueError, match="inputs and targets"):
        AcceptanceSet(features=["a"], inputs=[[1.0]], targets=[])


def test_publishing_makes_the_capture_store_directory_serving_pods_mount(
    catalog: FileCatalog,
) -> None:
    """Made by the publisher (so owned by the pods' user), never taken for a version."""
    catalog.publish(NS, MODEL, iris_staged_version())
    store = catalog.root / NS / MODEL / ".monitoring"
    assert store.is_dir() and (store.stat().st_mode & stat.S_IWUSR)
    assert store.as_uri() == default_store_uri(catalog.uri, NS, MODEL)
    assert [m.version for m in catalog.list_versions(NS, MODEL)] == [1]
    catalog.publish(NS, MODEL, iris_staged_version())  # an existing directory is fine
    assert [m.version for m in catalog.list_versions(NS, MODEL)] == [1, 2]
