"""Which Kubernetes the local cluster runs, and where its binaries come from.

There is no Docker here and no download of prebuilt Kubernetes binaries, so the dev cluster finds
`etcd`, `kube-apiserver`, `kube-controller-manager` and `kube-scheduler` in an explicit directory
(or `KUBEBUILDER_ASSETS`), else builds them from the release's Go modules (`gobuild`), cached by
version under the user's cache directory: about 14 minutes on two cores once per machine and
release, nothing after that.

The supported range is the upstream-supported minors at the time of writing: the newest is the
default (what `make test` and `make demo` run on), the oldest is what the compatibility run
(`make test-compat`) builds. Both are exact patch releases, so a cached build is found without
asking the module proxy and every machine runs the same binaries.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from modelship.devcluster.gobuild import build_from_modules, cached_control_plane
from modelship.devcluster.gocache import GoBuildSettings
from modelship.devcluster.progress import BinariesError, Progress, print_progress

__all__ = [
    "NEWEST_SUPPORTED",
    "OLDEST_SUPPORTED",
    "VERSION_ENV",
    "BinariesError",
    "ControlPlaneBinaries",
    "requested_version",
    "resolve_binaries",
]

NEWEST_SUPPORTED = "1.37.2"
OLDEST_SUPPORTED = "1.35.8"
VERSION_ENV = "MODELSHIP_KUBERNETES_VERSION"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


@dataclass(frozen=True)
class ControlPlaneBinaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path

    @classmethod
    def from_directory(cls, directory: Path) -> ControlPlaneBinaries:
        missing = [name for name in COMPONENTS if not _executable(directory / name)]
        if missing:
            raise BinariesError(f"{directory} does not contain {', '.join(missing)}")
        return cls(*(directory / name for name in COMPONENTS))

    @classmethod
    def from_mapping(cls, binaries: Mapping[str, Path]) -> ControlPlaneBinaries:
        return cls(*(binaries[name] for name in COMPONENTS))


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def requested_version(environ: Mapping[str, str]) -> str:
    """The release the local cluster runs: `$MODELSHIP_KUBERNETES_VERSION`, else the newest."""
    return environ.get(VERSION_ENV) or NEWEST_SUPPORTED


def resolve_binaries(
    explicit_dir: Path | None = None,
    *,
    version: str | None = None,
    build: bool = True,
    environ: Mapping[str, str] | None = None,
    progress: Progress = print_progress,
) -> ControlPlaneBinaries:
    """Find the binaries, building the requested release into the cache when it is not there."""
    environ = os.environ if environ is None else environ
    assets = environ.get("KUBEBUILDER_ASSETS")
    explicit = explicit_dir or (Path(assets) if assets else None)
    if explicit is not None:
        return ControlPlaneBinaries.from_directory(explicit)
    settings = GoBuildSettings.from_environ(environ)
    wanted = version or requested_version(environ)
    if not build:
        cached = cached_control_plane(wanted, settings)
        if cached is None:
            raise BinariesError(
                f"Kubernetes {wanted} is not built in {settings.cache_root}; "
                "run `modelship dev build` first"
            )
        return ControlPlaneBinaries.from_mapping(cached.binaries)
    built = build_from_modules(wanted, settings, progress=progress)
    return ControlPlaneBinaries.from_mapping(built.binaries)
