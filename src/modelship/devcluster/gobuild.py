"""Building a chosen Kubernetes control plane and its etcd from the Go module proxy.

The machines reach the Go module proxy and have a current Go (and no image can be pulled), so
kube-apiserver, kube-controller-manager and kube-scheduler of any published release, and the etcd
that release names in its `build/dependencies.yaml`, are built from their modules with the
machine's Go and cached by version. `binaries.py` says which release the local cluster runs.

Cold, on two cores, this costs about 13 minutes (kube-apiserver alone about 9) and 5 GB of Go
caches; a cached binary costs nothing, and a rebuild with warm Go caches takes seconds.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelship.devcluster.gocache import (
    GoBuildSettings,
    adopt_binaries,
    cached_manifest,
    entry_dir,
    install,
    new_staging,
    read_manifest,
)
from modelship.devcluster.gomodules import (
    ETCD_CTL_MODULE,
    ETCD_SERVER_MODULE,
    KUBERNETES_MODULE,
    KubernetesRelease,
    VersionRequest,
    commit_from_info,
    etcd_ldflags,
    etcd_version_from_dependencies,
    etcd_wrapper_gomod,
    kubernetes_ldflags,
    kubernetes_wrapper_gomod,
    read_gomod,
)
from modelship.devcluster.goproxy import ModuleProxy, resolve_kubernetes
from modelship.devcluster.gotool import download_module, require_go, start_build
from modelship.devcluster.progress import Progress, print_progress

CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
ETCD_COMPONENTS = ("etcd", "etcdctl")


@dataclass(frozen=True)
class ModuleControlPlane:
    """Where the built binaries of one release are, and which etcd goes with it."""

    kubernetes: str
    etcd: str
    binaries: Mapping[str, Path]  # component name -> executable


def build_from_modules(
    requested: str,
    settings: GoBuildSettings,
    *,
    kubectl: bool = False,
    extra: Sequence[str] = (),
    proxy: ModuleProxy | None = None,
    progress: Progress = print_progress,
) -> ModuleControlPlane:
    """Resolve `requested` (1.X or 1.X.Y), then build (or find cached) its binaries and etcd;
    `extra` names more commands of the release (kube-proxy)."""
    proxy = proxy or ModuleProxy(base=settings.proxy)
    components = (*CONTROL_PLANE, *(["kubectl"] if kubectl else []), *extra)
    k8s_entry, manifest = _kubernetes(requested, components, settings, proxy, progress)
    etcd_version = str(manifest["etcd"])
    etcd_entry = entry_dir(settings.cache_root, "etcd", etcd_version)
    if cached_manifest(etcd_entry, ETCD_COMPONENTS) is None:
        _build_etcd(etcd_version, etcd_entry, settings, proxy, progress)
    else:
        progress(f"etcd {etcd_version} is cached in {etcd_entry}")
    binaries = {name: k8s_entry / "bin" / name for name in components}
    binaries.update({name: etcd_entry / "bin" / name for name in ETCD_COMPONENTS})
    return ModuleControlPlane(
        kubernetes=str(manifest["kubernetes"]), etcd=etcd_version, binaries=binaries
    )


def cached_control_plane(requested: str, settings: GoBuildSettings) -> ModuleControlPlane | None:
    """The cached binaries of an exact release and its etcd, or None (no proxy is asked)."""
    exact = VersionRequest.parse(requested).exact
    if exact is None:
        return None
    manifest = cached_manifest(entry_dir(settings.cache_root, "kubernetes", exact), CONTROL_PLANE)
    if manifest is None:
        return None
    etcd_version = str(manifest["etcd"])
    etcd_entry = entry_dir(settings.cache_root, "etcd", etcd_version)
    if cached_manifest(etcd_entry, ETCD_COMPONENTS) is None:
        return None
    k8s_bin = entry_dir(settings.cache_root, "kubernetes", exact) / "bin"
    binaries = {name: k8s_bin / name for name in CONTROL_PLANE}
    binaries.update({name: etcd_entry / "bin" / name for name in ETCD_COMPONENTS})
    return ModuleControlPlane(kubernetes=exact, etcd=etcd_version, binaries=binaries)


def _kubernetes(
    requested: str,
    components: Sequence[str],
    settings: GoBuildSettings,
    proxy: ModuleProxy,
    progress: Progress,
) -> tuple[Path, dict[str, Any]]:
    """The cache entry of the requested release and its manifest, built when not cached."""
    exact = VersionRequest.parse(requested).exact
    if exact is not None:
        # A release already built needs no proxy, so an exact version also works offline.
        entry = entry_dir(settings.cache_root, "kubernetes", exact)
        manifest = cached_manifest(entry, components)
        if manifest is not None:
            progress(f"Kubernetes {exact} is cached in {entry}")
            return entry, manifest
    release = resolve_kubernetes(requested, proxy, progress)
    entry = entry_dir(settings.cache_root, "kubernetes", release.version)
    manifest = cached_manifest(entry, components)
    if manifest is not None:
        progress(f"Kubernetes {release.version} is cached in {entry}")
        return entry, manifest
    return entry, _build_kubernetes(release, components, entry, settings, proxy, progress)


def _build_kubernetes(
    release: KubernetesRelease,
    components: Sequence[str],
    entry: Path,
    settings: GoBuildSettings,
    proxy: ModuleProxy,
    progress: Progress,
) -> dict[str, Any]:
    gomod = proxy.require(KUBERNETES_MODULE, f"{release.tag}.mod")
    build = start_build(entry, settings, progress)
    go_version = require_go(
        settings.go, read_gomod(gomod).go, f"Kubernetes {release.version}", build.env
    )
    # Binaries an older build of this entry left (kubectl is being added) are kept, not rebuilt.
    listed = (read_manifest(entry) or {}).get("components", [])
    have = [name for name in listed if cached_manifest(entry, [name]) is not None]
    missing = [name for name in components if name not in have]
    progress(
        f"building Kubernetes {release.version} ({', '.join(missing)}) from its Go modules with "
        f"{go_version} into {entry} (log: {build.log}); about 13 minutes on two cores with cold "
        f"Go caches in {settings.build_cache}, seconds when they are warm"
    )
    staging = new_staging(entry)
    try:
        module = staging / "module"
        module.mkdir()
        (staging / "bin").mkdir()
        (module / "go.mod").write_text(kubernetes_wrapper_gomod(release, gomod))
        source = download_module(build, module, f"{KUBERNETES_MODULE}@{release.tag}")
        etcd_version = etcd_version_from_dependencies(
            (source / "build" / "dependencies.yaml").read_text()
        )
        packages = [f"{KUBERNETES_MODULE}/cmd/{name}" for name in missing]
        build.run(
            [settings.go, "list", "-deps", *packages],
            module,
            f"downloading the modules of {', '.join(missing)}",
        )
        ldflags = kubernetes_ldflags(release)
        for name, package in zip(missing, packages, strict=True):
            build.go_build(module, package, staging / "bin" / name, ldflags, name)
        adopt_binaries(entry, staging, have)
        manifest: dict[str, Any] = {
            "kubernetes": release.version,
            "etcd": etcd_version,
            "buildDate": release.time,
            "gitCommit": release.commit,
            "go": go_version,
            "components": sorted({*components, *have}),
        }
        install(staging, entry, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"Kubernetes {release.version} ready in {entry / 'bin'} (its etcd: {etcd_version})")
    return manifest


def _build_etcd(
    version: str, entry: Path, settings: GoBuildSettings, proxy: ModuleProxy, progress: Progress
) -> None:
    gomod = proxy.require(ETCD_SERVER_MODULE, f"v{version}.mod")
    commit = commit_from_info(proxy.require(ETCD_SERVER_MODULE, f"v{version}.info"))
    build = start_build(entry, settings, progress)
    go_version = require_go(settings.go, read_gomod(gomod).go, f"etcd {version}", build.env)
    progress(
        f"building etcd {version} from its Go modules into {entry} (log: {build.log}); "
        "about a minute on two cores"
    )
    staging = new_staging(entry)
    try:
        module = staging / "module"
        module.mkdir()
        (staging / "bin").mkdir()
        (module / "go.mod").write_text(etcd_wrapper_gomod(version, gomod))
        build.run(
            [settings.go, "list", "-deps", ETCD_SERVER_MODULE, ETCD_CTL_MODULE],
            module,
            f"downloading the modules of etcd {version}",
        )
        build.go_build(
            module,
            ETCD_SERVER_MODULE,
            staging / "bin" / "etcd",
            etcd_ldflags(version, commit),
            "etcd",
        )
        build.go_build(module, ETCD_CTL_MODULE, staging / "bin" / "etcdctl", "-s -w", "etcdctl")
        manifest = {"etcd": version, "go": go_version, "components": list(ETCD_COMPONENTS)}
        install(staging, entry, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"etcd {version} ready in {entry / 'bin'}")
