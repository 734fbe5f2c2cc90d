"""Where binaries built from Go modules are kept, and how a build is configured.

A cache entry is one directory per component and version, named with the recipe's revision
(`kubernetes-1.37.2-mod-r1/bin/kube-apiserver`, `etcd-3.7.0-mod-r1/bin/etcd`), so a change of the
recipe never reuses binaries an older recipe built. A build writes into a hidden temporary
directory beside the entry and renames it into place when everything is in it, with its
manifest written last: an entry either is complete or does not exist. The settings are read
from an explicit mapping (the CLI passes `os.environ`), never at import.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelship.devcluster.goproxy import DEFAULT_PROXY

# Bumped whenever the recipe (wrapper module, flags, ldflags) changes.
RECIPE_REVISION = 1
MANIFEST = "build.json"
PARTIAL = ".partial"


@dataclass(frozen=True)
class GoBuildSettings:
    """How to run Go. Environment names (all optional), read by `from_environ`:

    `MODELSHIP_GO` (the go command), `MODELSHIP_GOPROXY`, `MODELSHIP_GOMODCACHE` and
    `MODELSHIP_GOCACHE` (default `~/.cache/modelship/go/{mod,build}`, apart from the user's own),
    `MODELSHIP_GO_JOBS` (`go build -p`) and `MODELSHIP_GO_NICE`.
    """

    cache_root: Path
    mod_cache: Path
    build_cache: Path
    proxy: str = DEFAULT_PROXY
    go: str = "go"
    # One kube-controller-manager link peaks at 2.6 GB with -p 2; more jobs mostly add memory.
    jobs: int = 2
    # The build takes minutes of both cores; at the lowest priority the tests and benchmarks
    # that share the machine keep theirs, and on an idle machine it costs nothing.
    nice: int = 19

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> GoBuildSettings:
        root = modelship_cache_root(environ)
        return cls(
            cache_root=root,
            mod_cache=Path(environ.get("MODELSHIP_GOMODCACHE") or root / "go" / "mod"),
            build_cache=Path(environ.get("MODELSHIP_GOCACHE") or root / "go" / "build"),
            proxy=environ.get("MODELSHIP_GOPROXY") or DEFAULT_PROXY,
            go=environ.get("MODELSHIP_GO") or "go",
            jobs=int(environ.get("MODELSHIP_GO_JOBS") or 2),
            nice=int(environ.get("MODELSHIP_GO_NICE") or 19),
        )

    def go_environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """The environment of every `go` command: `base` (PATH, HOME, proxies) plus the recipe.

        Static binaries (no cgo), no toolchain download (the local Go or a clear error), the
        wrapper's go.mod updated as dependencies resolve, no go.work from a parent directory.
        """
        return {
            **base,
            "GOMODCACHE": str(self.mod_cache),
            "GOCACHE": str(self.build_cache),
            "GOPROXY": self.proxy,
            "GOFLAGS": "-mod=mod -buildvcs=false",
            "GOTOOLCHAIN": "local",
            "GOWORK": "off",
            "CGO_ENABLED": "0",
        }


def modelship_cache_root(environ: Mapping[str, str]) -> Path:
    """`$XDG_CACHE_HOME/modelship`, else `~/.cache/modelship`."""
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "modelship"


def entry_dir(cache_root: Path, component: str, version: str) -> Path:
    """`<root>/kubernetes-1.37.2-mod-r1`: component, version and recipe revision."""
    return cache_root / f"{component}-{version}-mod-r{RECIPE_REVISION}"


def read_manifest(entry: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def cached_manifest(entry: Path, components: Iterable[str]) -> dict[str, Any] | None:
    """The entry's manifest when it holds every one of `components` as an executable, else None."""
    manifest = read_manifest(entry)
    if manifest is None:
        return None
    for name in components:
        binary = entry / "bin" / name
        if name not in manifest.get("components", []) or not os.access(binary, os.X_OK):
            return None
    return manifest


def new_staging(entry: Path) -> Path:
    """A hidden directory beside `entry` to build into, after removing ones of dead builds."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    for stale in entry.parent.glob(f".{entry.name}.*{PARTIAL}"):
        pid = stale.name.removeprefix(f".{entry.name}.").split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{entry.name}.{os.getpid()}.", suffix=PARTIAL, dir=entry.parent)
    )
    staging.chmod(0o755)  # mkdtemp's 0700 would make the installed entry private to its builder
    return staging


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def adopt_binaries(entry: Path, staging: Path, components: Iterable[str]) -> None:
    """Hard-link (or copy) binaries a complete older entry already has into the staging dir."""
    (staging / "bin").mkdir(parents=True, exist_ok=True)
    for name in components:
        source, target = entry / "bin" / name, staging / "bin" / name
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


def install(staging: Path, entry: Path, manifest: Mapping[str, Any]) -> None:
    """Write the manifest last and move the staging directory into place as `entry`.

    A directory cannot be renamed over a non-empty one, so an entry being extended (kubectl
    added) is first renamed aside: at every moment the entry is the old or the new complete one,
    or briefly absent, never partly written.
    """
    (staging / MANIFEST).write_text(json.dumps(dict(manifest), indent=2, sort_keys=True) + "\n")
    old = None
    if entry.exists():
        old = entry.with_name(f".{entry.name}.{os.getpid()}.old{PARTIAL}")
        shutil.rmtree(old, ignore_errors=True)
        entry.rename(old)
    staging.rename(entry)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
