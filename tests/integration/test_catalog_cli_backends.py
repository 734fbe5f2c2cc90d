"""`modelship catalog ls|show|verify|prune|copy` on both backends, against a real registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelship.catalog import FileCatalog, OciCatalog, open_catalog
from modelship.cli import main
from support.factories import iris_staged_version
from support.registry import LocalRegistry, local_registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    with local_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(params=["volume", "registry"])
def root(request: pytest.FixtureRequest, tmp_path: Path, registry: LocalRegistry) -> str:
    """A catalog with three versions of staging/iris, on the backend of the parameter."""
    if request.param == "volume":
        uri = str(tmp_path / "catalog")
    else:
        uri = registry.catalog_uri.replace("/modelship?", f"/{tmp_path.name.lower()[:40]}?")
    catalog = open_catalog(uri)
    for _ in range(3):
        catalog.publish("staging", "iris", iris_staged_version())
    return uri


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["catalog", *args])
    return code, capsys.readouterr().out


def test_ls_show_verify_prune(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "ls", "--root", root, "--json")
    assert code == 0
    assert json.loads(out) == [
        {"namespace": "staging", "model": "iris", "versions": 3, "latest": 3}
    ]
    code, out = run(capsys, "show", "--root", root, "staging", "iris", "latest", "--json")
    assert code == 0 and json.loads(out)["version"] == 3
    code, out = run(capsys, "verify", "--root", root, "staging", "iris", "--json")
    assert code == 0 and [r["ok"] for r in json.loads(out)] == [True, True, True]
    code, out = run(capsys, "prune", "--root", root, "staging", "iris", "--keep", "1", "--json")
    assert code == 0 and json.loads(out)["removed"] == [1, 2]
    assert open_catalog(root).version_numbers("staging", "iris") == [3]


def test_copy_promotes_a_version_to_another_namespace_with_its_digest(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    original = open_catalog(root).get("staging", "iris", 2)

    code, out = run(
        capsys, "copy", "--root", root, "staging", "iris", "2",
        "--to-namespace", "production", "--digest", original.digest, "--json",
    )  # fmt: skip

    copied = json.loads(out)
    assert code == 0
    assert (copied["namespace"], copied["version"], copied["digest"]) == (
        "production",
        1,
        original.digest,
    )
    assert open_catalog(root).verify("production", "iris", 1).digest == original.digest


def test_copy_refuses_a_version_other_than_the_approved_one(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(
        capsys, "copy", "--root", root, "staging", "iris", "2",
        "--to-namespace", "production", "--digest", "sha256:" + "0" * 64,
    )  # fmt: skip

    assert code == 1
    assert open_catalog(root).version_numbers("production", "iris") == []


def test_copy_from_a_volume_into_the_registry(
    tmp_path: Path, registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    volume = FileCatalog(tmp_path / "volume")
    published = volume.publish("team-a", "iris", iris_staged_version())
    target = registry.catalog_uri.replace("/modelship?", "/migrated?")

    code, out = run(
        capsys, "copy", "--root", str(volume.root), "team-a", "iris", "1",
        "--to-namespace", "team-a", "--to-root", target,
    )  # fmt: skip

    assert code == 0, out
    catalog = open_catalog(target)
    assert isinstance(catalog, OciCatalog)
    assert catalog.verify("team-a", "iris", 1).digest == published.digest
    assert "@sha256:" in out
