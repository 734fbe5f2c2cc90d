"""One catalog URI selects the backend; a registry over plain HTTP has to be asked for."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from modelship.catalog import CatalogError, FileCatalog, OciCatalog, open_catalog
from modelship.catalog.registry_auth import Credentials, load_credentials


def test_oci_uri_names_host_prefix_and_scheme() -> None:
    plain = open_catalog("oci://127.0.0.1:5000/ml/shared?plain-http=true")
    secure = open_catalog("oci://registry.example/ml")

    assert isinstance(plain, OciCatalog) and isinstance(secure, OciCatalog)
    assert (plain.registry.host, plain.prefix) == ("127.0.0.1:5000", "ml/shared")
    assert plain.repository("team-a", "iris") == "ml/shared/team-a/iris"
    assert str(plain.registry._client.base_url).startswith("http://")
    assert str(secure.registry._client.base_url).startswith("https://")
    assert isinstance(open_catalog("/srv/catalog"), FileCatalog)


@pytest.mark.parametrize(
    ("uri", "message"),
    [("oci:///ml", "needs a host"), ("oci://r.example/ml?insecure=1", "unknown option")],
)
def test_malformed_registry_uris_are_refused(uri: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        open_catalog(uri)


def test_credentials_are_read_for_the_registry_host(tmp_path: Path) -> None:
    token = base64.b64encode(b"ci:s3cret").decode()
    config = {
        "auths": {
            "r.example:5000": {"auth": token},
            "https://other.example": {"username": "bot", "password": "pw"},
        }
    }
    (tmp_path / "config.json").write_text(json.dumps(config))

    assert load_credentials(str(tmp_path), "r.example:5000") == Credentials("ci", "s3cret")
    assert load_credentials(str(tmp_path), "other.example") == Credentials("bot", "pw")
    assert load_credentials(str(tmp_path), "unknown.example") is None
    assert load_credentials(str(tmp_path / "absent"), "r.example:5000") is None
    assert load_credentials(None, "r.example:5000") is None
