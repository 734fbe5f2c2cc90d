"""A real OCI registry (Debian's docker-registry) in a temporary directory, for catalog tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelship.devcluster import processes, registry


@dataclass(frozen=True)
class LocalRegistry:
    url: str
    catalog_uri: str
    storage: Path

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")


@contextlib.contextmanager
def local_registry(
    directory: Path, timeout: float = 20.0, htpasswd: Path | None = None
) -> Iterator[LocalRegistry]:
    """Start a registry (with `htpasswd`: one that demands Basic credentials), wait until it
    answers, and stop it (by its own pid) afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    files = registry.RegistryFiles(directory)
    argv = registry.prepare(files)
    if htpasswd is not None:
        with files.config.open("a") as config:
            config.write(f"auth:\n  htpasswd:\n    realm: modelship\n    path: {htpasswd}\n")
    record = processes.spawn("registry", argv, directory / "registry.log")
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, Exception):
                if registry.ready(files) or (htpasswd and _challenges(files)):
                    break
            if time.monotonic() > deadline or not processes.is_alive(record):
                log = (directory / "registry.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"registry did not start: {log}")
            time.sleep(0.1)
        url = files.url()
        assert url is not None
        yield LocalRegistry(url, files.catalog_file.read_text().strip(), files.storage)
    finally:
        processes.stop([record], grace=5.0)


def _challenges(files: registry.RegistryFiles) -> bool:
    """A registry with auth answers /v2/ with 401 once it is up."""
    import httpx

    return httpx.get(f"{files.url()}/v2/", timeout=2.0).status_code == 401
