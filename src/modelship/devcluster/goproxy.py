"""Asking the Go module proxy which Kubernetes release to build.

The proxy's `@v/list` for `k8s.io/kubernetes` leaves out releases it serves (here the newest
listed 1.34 was 1.34.4 while 1.34.12 was served), and some listed staging versions have no
`k8s.io/kubernetes` behind them (403). So a `1.X` request takes its candidates from the complete
list of `k8s.io/api` (v0.X.Y is published with v1.X.Y) and confirms each, newest first, with
`k8s.io/kubernetes/@v/v1.X.Y.info`, stepping down past the ones the proxy refuses. The HTTP GET
is a parameter, so tests replay recorded answers instead of using the network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from modelship.devcluster.gomodules import (
    KUBERNETES_MODULE,
    KubernetesRelease,
    VersionRequest,
    release_from_info,
    staging_candidates,
)
from modelship.devcluster.progress import BinariesError, Progress

DEFAULT_PROXY = "https://proxy.golang.org"
# What the proxy answers for a version it does not serve: 404/410 when unknown, 403 when the
# version exists upstream but the proxy refuses it (seen here for v1.37.3 and v1.34.13).
NOT_SERVED = frozenset({403, 404, 410})


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


Fetch = Callable[[str], Answer]


def http_fetch(url: str) -> Answer:
    """GET `url` over the network (httpx honours the usual proxy variables)."""
    try:
        response = httpx.get(url, timeout=60.0, follow_redirects=True)
    except httpx.HTTPError as error:
        raise BinariesError(f"cannot reach the Go module proxy ({url}): {error}") from error
    return Answer(status=response.status_code, body=response.text)


@dataclass(frozen=True)
class ModuleProxy:
    """One Go module proxy, read through `fetch`."""

    fetch: Fetch = http_fetch
    base: str = DEFAULT_PROXY

    def get(self, module: str, suffix: str) -> Answer:
        """`<base>/<module>/@v/<suffix>`; module paths here are lower case, so no escaping."""
        return self.fetch(f"{self.base.rstrip('/')}/{module}/@v/{suffix}")

    def require(self, module: str, suffix: str) -> str:
        """The body of an answer that must exist; anything else names the URL and the status."""
        answer = self.get(module, suffix)
        if answer.status != 200:
            raise BinariesError(
                f"the Go module proxy {self.base} answered {answer.status} for {module}/@v/{suffix}"
            )
        return answer.body

    def served_release(self, version: str) -> KubernetesRelease | None:
        """The release if the proxy serves `k8s.io/kubernetes v<version>`, else None."""
        answer = self.get(KUBERNETES_MODULE, f"v{version}.info")
        if answer.status in NOT_SERVED:
            return None
        if answer.status != 200:
            raise BinariesError(
                f"the Go module proxy {self.base} answered {answer.status} for "
                f"{KUBERNETES_MODULE} v{version}"
            )
        return release_from_info(version, answer.body)


def resolve_kubernetes(
    requested: str, proxy: ModuleProxy, progress: Progress | None = None
) -> KubernetesRelease:
    """The release to build for `1.X.Y` (that one, if served) or `1.X` (the newest served)."""
    request = VersionRequest.parse(requested)
    version = request.exact
    if version is not None:
        release = proxy.served_release(version)
        if release is None:
            raise BinariesError(
                f"the Go module proxy {proxy.base} does not serve {KUBERNETES_MODULE} v{version}; "
                f"ask for 1.{request.minor} to get the newest patch it serves"
            )
        return release
    candidates = staging_candidates(proxy.require("k8s.io/api", "list"), request.minor)
    refused: list[str] = []
    for version in candidates:
        release = proxy.served_release(version)
        if release is not None:
            if refused and progress is not None:
                progress(f"the proxy does not serve {', '.join(refused)}; using {version}")
            return release
        refused.append(version)
    raise BinariesError(
        f"the Go module proxy {proxy.base} serves no {KUBERNETES_MODULE} 1.{request.minor}.x"
        + (f" (refused {', '.join(refused)})" if refused else " (k8s.io/api lists none)")
    )
