"""The local cluster's OCI registry: Debian's `docker-registry` (CNCF Distribution 2.8).

It is the local cluster's default model catalog, so what people try first is the catalog that
scales to many nodes and namespaces. It listens where pods reach the host, beside the API server:
the host's end of the cluster's service link (servicenet.py), or a loopback port when pods share
the host's network (a cluster run without root). Plain HTTP, no auth: nothing leaves the host.
Storage lives under the cluster's directory; deletes are enabled so `catalog prune` works.

`registry-url` in the cluster directory holds the URL (`http://<host>:<port>`) and
`catalog-uri` the catalog URI built on it, for `make run`, `make deploy` and the tests to read.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from modelship.devcluster.ports import LOOPBACK, free_ports, is_listening

BINARY = "docker-registry"
CATALOG_PREFIX = "modelship"


class RegistryFiles:
    """The registry's files under a cluster directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.storage = root / "registry"
        self.config = root / "registry.yaml"
        self.url_file = root / "registry-url"
        self.catalog_file = root / "catalog-uri"

    def url(self) -> str | None:
        try:
            return self.url_file.read_text().strip() or None
        except FileNotFoundError:
            return None

    def port(self) -> int | None:
        url = self.url()
        return int(url.rsplit(":", 1)[1]) if url else None


def binary() -> str:
    # /usr/bin is not on every PATH (a minimal environment of a test runner).
    found = shutil.which(BINARY) or shutil.which(BINARY, path="/usr/bin")
    if found is None:
        raise FileNotFoundError(
            "docker-registry is not installed (Debian package docker-registry; "
            "hack/install-system-deps.sh installs it)"
        )
    return found


def catalog_uri(port: int, host: str = LOOPBACK) -> str:
    return f"oci://{host}:{port}/{CATALOG_PREFIX}?plain-http=true"


def prepare(files: RegistryFiles, host: str = LOOPBACK) -> list[str]:
    """Pick a port (the previous one when free), write the config and URL files; return argv.

    `host` is where pods reach the host: loopback when they share its network, the host's end
    of the service link when they have namespaces of their own (servicenet.py)."""
    previous = files.port()
    port = previous if previous and not is_listening(previous, host) else free_ports(1)[0]
    files.storage.mkdir(parents=True, exist_ok=True)
    files.config.write_text(render_config(files.storage, port, host))
    files.url_file.write_text(f"http://{host}:{port}\n")
    files.catalog_file.write_text(catalog_uri(port, host) + "\n")
    return [binary(), "serve", str(files.config)]


def render_config(storage: Path, port: int, host: str = LOOPBACK) -> str:
    return f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {host}:{port}
"""


def ready(files: RegistryFiles) -> bool:
    url = files.url()
    return bool(url) and httpx.get(f"{url}/v2/", timeout=2.0).status_code == 200
