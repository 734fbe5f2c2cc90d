"""Registry credentials come from a Docker config (the mounted dockerconfigjson Secret).

A registry that demands credentials refuses an anonymous catalog, accepts the one whose
`$DOCKER_CONFIG/config.json` names it, and refuses a wrong password.
"""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelship.catalog import CatalogError, OciCatalog, open_catalog
from support.factories import iris_staged_version
from support.registry import LocalRegistry, local_registry

pytestmark = pytest.mark.integration


def bcrypt_line(user: str, password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # the standard library's bcrypt, as docker-registry's htpasswd wants

        return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    directory = tmp_path_factory.mktemp("registry")
    htpasswd = directory / "htpasswd"
    htpasswd.write_text(bcrypt_line("ci", "s3cret"))
    with local_registry(directory, htpasswd=htpasswd) as running:
        yield running


def docker_config(directory: Path, host: str, user: str, password: str) -> str:
    """What the kubelet mounts from a kubernetes.io/dockerconfigjson Secret."""
    directory.mkdir()
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return str(directory)


def test_the_named_credentials_open_the_registry(registry: LocalRegistry, tmp_path: Path) -> None:
    config = docker_config(tmp_path / "docker", registry.host, "ci", "s3cret")
    catalog = open_catalog(registry.catalog_uri, docker_config=config)
    assert isinstance(catalog, OciCatalog)
    catalog.pull_dir = tmp_path

    published = catalog.publish("team-a", "iris", iris_staged_version())

    opened = catalog.open_verified(
        "team-a", "iris", 1, published.digest, pinned=catalog.artifact_uri("team-a", "iris", 1)
    )
    assert opened.metadata == published


def test_without_credentials_the_registry_refuses(registry: LocalRegistry) -> None:
    catalog = open_catalog(registry.catalog_uri, docker_config="")

    with pytest.raises(CatalogError, match="denied"):
        catalog.publish("team-a", "iris", iris_staged_version())


def test_a_wrong_password_is_refused(registry: LocalRegistry, tmp_path: Path) -> None:
    config = docker_config(tmp_path / "docker", registry.host, "ci", "guess")
    catalog = open_catalog(registry.catalog_uri, docker_config=config)

    with pytest.raises(CatalogError, match="denied"):
        catalog.version_numbers("team-a", "iris")
