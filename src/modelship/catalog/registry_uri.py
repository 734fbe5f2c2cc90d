"""The registry an `oci://host[:port]/path[?plain-http=true]` URI names, ready to use.

Both registry-backed stores (the catalog, `OciCatalog`, and the capture segments,
`RegistrySegmentStore`) are opened from such a URI, and must read it the same way: `plain-http`
is the one option (anything else is refused, so a typo does not silently mean HTTPS), and the
credentials come from the Docker config the pod mounts (`docker_config`, else $DOCKER_CONFIG).
Each caller checks what its own URI must name besides the host.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlparse

from modelship.catalog.errors import CatalogError
from modelship.catalog.registry import Registry
from modelship.catalog.registry_auth import load_credentials


def registry_at(uri: str, docker_config: str | None, *, timeout: float = 60.0) -> Registry:
    """A client of the URI's registry host, with its options and credentials."""
    parsed = urlparse(uri)
    options = parse_qs(parsed.query)
    unknown = set(options) - {"plain-http"}
    if unknown:
        raise CatalogError(f"unknown option(s) {', '.join(sorted(unknown))} in {uri}")
    plain_http = options.get("plain-http", ["false"])[-1].lower() in ("1", "true", "yes")
    config_dir = docker_config if docker_config is not None else os.environ.get("DOCKER_CONFIG")
    return Registry(
        parsed.netloc,
        plain_http=plain_http,
        credentials=load_credentials(config_dir, parsed.netloc),
        timeout=timeout,
    )
