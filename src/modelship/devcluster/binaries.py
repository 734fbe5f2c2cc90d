"""Where the control-plane binaries come from.

There is no Docker here and no download of prebuilt Kubernetes binaries, so the dev cluster finds
`etcd`, `kube-apiserver` and `kube-controller-manager` in this order: an explicit directory (or
`KUBEBUILDER_ASSETS`), a cache under the user's cache directory, and finally a build from
Debian 12's Kubernetes source package (1.20.2 with its vendored dependencies). The build takes a
few minutes on two cores and happens once per machine; its progress is printed as it goes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "1.20.2"
BUILT_COMPONENTS = ("kube-apiserver", "kube-controller-manager")
# Debian's reflect2 works with Go 1.19; the vendored 1.0.1 crashes kube-apiserver built with it.
# reflect2 1.0.2 needs the json-iterator it was released with (1.1.12): with the vendored 1.1.10
# the API server decodes an empty string in a custom resource as null and rejects valid objects.
DEBIAN_GO_SOURCES = Path("/usr/share/gocode/src")
DEBIAN_REPLACEMENTS = ("github.com/modern-go/reflect2", "github.com/json-iterator/go")
# The vendored OpenAPI validators test "is this value null?" by comparing reflect.Values, which
# Go 1.19 makes true for every zero value: an empty string in a custom resource would be refused
# as null. The upstream fix (kube-openapi) compares against nil only; we apply the same to both.
ZERO_VALUE_CHECK = (
    "if data == nil || "
    "reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {"
)
NIL_CHECK = "if data == nil {"
OPENAPI_TYPE_VALIDATORS = (
    "vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go",
    "vendor/github.com/go-openapi/validate/type.go",
)
# Bumped whenever the build recipe changes, so caches of an older recipe are not reused.
BUILD_REVISION = 3
SYSTEM_PACKAGES_HINT = (
    "run `sudo make system-deps` (Debian 12: etcd-server golang-go rsync make dpkg-dev "
    "golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev and a deb-src "
    "entry for bookworm)"
)

Progress = Callable[[str], None]


class BinariesError(RuntimeError):
    """The control-plane binaries cannot be found or built; the message says what is missing."""


@dataclass(frozen=True)
class ControlPlaneBinaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelship" / f"kubernetes-{KUBERNETES_VERSION}-r{BUILD_REVISION}"


def print_progress(message: str) -> None:
    print(f"[control-plane] {message}", file=sys.stderr, flush=True)


def _find_etcd(directory: Path | None) -> Path:
    candidates = [directory / "etcd"] if directory else []
    on_path = shutil.which("etcd")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BinariesError(f"etcd not found (looked in {directory or 'PATH'}); {SYSTEM_PACKAGES_HINT}")


def _complete(directory: Path) -> bool:
    return all((directory / name).is_file() for name in BUILT_COMPONENTS)


def _from_directory(directory: Path) -> ControlPlaneBinaries:
    return ControlPlaneBinaries(
        etcd=_find_etcd(directory),
        kube_apiserver=directory / "kube-apiserver",
        kube_controller_manager=directory / "kube-controller-manager",
    )


def resolve_binaries(
    explicit_dir: Path | None = None,
    cache_dir: Path | None = None,
    build: bool = True,
    progress: Progress = print_progress,
) -> ControlPlaneBinaries:
    """Find the binaries, building them into the cache when nothing else has them."""
    explicit = explicit_dir or (
        Path(os.environ["KUBEBUILDER_ASSETS"]) if os.environ.get("KUBEBUILDER_ASSETS") else None
    )
    if explicit is not None:
        if not _complete(explicit):
            raise BinariesError(f"{explicit} does not contain {', '.join(BUILT_COMPONENTS)}")
        return _from_directory(explicit)
    cache = cache_dir or default_cache_dir()
    bin_dir = cache / "bin"
    if not _complete(bin_dir):
        if not build:
            raise BinariesError(
                f"no control-plane binaries in {bin_dir}; run `modelship dev build` first"
            )
        build_from_debian_source(cache, progress=progress)
    return _from_directory(bin_dir)


def _require_tools() -> None:
    missing = [tool for tool in ("apt-get", "go", "make", "rsync") if shutil.which(tool) is None]
    missing += [
        str(DEBIAN_GO_SOURCES / package)
        for package in DEBIAN_REPLACEMENTS
        if not (DEBIAN_GO_SOURCES / package).is_dir()
    ]
    if missing:
        raise BinariesError(
            f"cannot build the control plane, missing {missing}; {SYSTEM_PACKAGES_HINT}"
        )


def _run(cmd: list[str], cwd: Path, log: Path, progress: Progress, what: str) -> None:
    """Run one build step, logging its output to a file and printing a heartbeat meanwhile."""
    progress(f"{what} (log: {log})")
    started = time.monotonic()
    env = dict(os.environ)
    # Kubernetes 1.20 drives Go itself (GOPATH mode, vendored modules); only the cache is ours.
    env.setdefault("GOCACHE", str(cwd.parent / "gocache"))
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        while True:
            try:
                code = proc.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                progress(f"  … {what}: {int(time.monotonic() - started)}s")
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-20:]
        raise BinariesError(
            f"{what} failed (exit {code}); last lines of {log}:\n" + "\n".join(tail)
        )
    progress(f"  done in {int(time.monotonic() - started)}s")


def _patch_type_validators(source: Path, progress: Progress) -> None:
    for relative in OPENAPI_TYPE_VALIDATORS:
        path = source / relative
        text = path.read_text()
        if ZERO_VALUE_CHECK in text:
            path.write_text(text.replace(ZERO_VALUE_CHECK, NIL_CHECK))
            progress(f"patched the zero-value check in {relative}")
        elif NIL_CHECK not in text:
            raise BinariesError(
                f"{relative} no longer has the expected null check; update the build"
            )


def build_from_debian_source(cache: Path, progress: Progress = print_progress) -> None:
    """Build kube-apiserver and kube-controller-manager from Debian's source package."""
    _require_tools()
    work = cache / "build"
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    progress(
        f"building Kubernetes {KUBERNETES_VERSION} control plane from Debian's source package "
        f"into {cache} — about six minutes on two cores, once per machine"
    )
    if not list(work.glob("kubernetes_*.orig.tar.gz")):
        _run(
            ["apt-get", "source", "--download-only", "kubernetes"],
            work,
            log,
            progress,
            "downloading the kubernetes source package",
        )
    orig = sorted(work.glob("kubernetes_*.orig.tar.gz"))
    if not orig:
        raise BinariesError(f"apt-get source did not produce a kubernetes .orig.tar.gz in {work}")
    source = work / "src"
    if not (source / "Makefile").is_file():
        shutil.rmtree(source, ignore_errors=True)
        progress(f"unpacking {orig[-1].name}")
        unpack = work / "unpack"
        shutil.rmtree(unpack, ignore_errors=True)
        with tarfile.open(orig[-1]) as archive:
            archive.extractall(unpack, filter="tar")
        roots = [p for p in unpack.iterdir() if p.is_dir()]
        top = roots[0] if len(roots) == 1 and not (unpack / "Makefile").exists() else unpack
        top.rename(source)
        shutil.rmtree(unpack, ignore_errors=True)
    for package in DEBIAN_REPLACEMENTS:
        _run(
            [
                "rsync",
                "-a",
                "--delete",
                "--exclude",
                "*_test.go",
                f"{DEBIAN_GO_SOURCES / package}/",
                f"{source / 'vendor' / package}/",
            ],
            source,
            log,
            progress,
            f"replacing the vendored {package} with Debian's",
        )
    _patch_type_validators(source, progress)
    _run(["make", "generated_files"], source, log, progress, "generating code")
    _run(
        ["make", f"WHAT={' '.join('cmd/' + c for c in BUILT_COMPONENTS)}"],
        source,
        log,
        progress,
        "compiling kube-apiserver and kube-controller-manager",
    )
    built = source / "_output" / "bin"
    bin_dir = cache / "bin"
    staging = cache / "bin.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for component in BUILT_COMPONENTS:
        shutil.copy2(built / component, staging / component)
    shutil.rmtree(bin_dir, ignore_errors=True)
    staging.rename(bin_dir)  # the cache is complete or absent, never half-written
    shutil.rmtree(source, ignore_errors=True)
    progress(f"control-plane binaries ready in {bin_dir}")
