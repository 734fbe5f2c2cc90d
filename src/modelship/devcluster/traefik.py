"""Traefik for the local cluster: a Gateway API implementation built from its Go module.

The `traffic: gatewayAPI` canary writes a standard weighted HTTPRoute; something has to read it
and split requests. Every Envoy-based implementation needs an Envoy binary no registry here has;
Traefik v3 is pure Go and implements HTTPRoute's weighted backendRefs, so it is built like the
control plane: from the module proxy, with the machine's Go, cached by version.

Traefik's go.mod has `replace` lines (its forks of three libraries), which `go install` refuses
and which only apply in the main module; so the downloaded module is copied to a writable
staging directory and `./cmd/traefik` is built there as the main module. v3.7 cannot be built
this way (it replaces a nested module that is not in the module zip), so the version is pinned.

Traefik runs as a host process with the cluster's admin kubeconfig (its `kubernetesGateway`
provider reads `KUBECONFIG` when it is not in a pod), watches GatewayClasses whose
`controllerName` is `traefik.io/gateway-controller`, and forwards to the EndpointSlice
addresses of the routes' Services. It listens on one loopback entryPoint; no dashboard, no API,
no metrics, no other provider, so nothing but that one port is opened. Nothing in the operator
knows which implementation serves a Gateway: it only writes HTTPRoutes.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from modelship.devcluster.gocache import (
    GoBuildSettings,
    cached_manifest,
    entry_dir,
    install,
    new_staging,
)
from modelship.devcluster.gotool import download_module, require_go, start_build
from modelship.devcluster.processes import ProcessRecord, spawn
from modelship.devcluster.progress import Progress, print_progress

MODULE = "github.com/traefik/traefik/v3"
# v3.6.12 is the newest release that builds from the module zip (see the module docstring);
# its go.mod needs Go 1.25.0.
VERSION = "3.6.12"
REQUIRED_GO = "1.25.0"
CONTROLLER_NAME = "traefik.io/gateway-controller"
# The name of the single entryPoint; a Gateway listener's port must be this entryPoint's port.
ENTRYPOINT = "web"
# `go:embed static` in webui/ needs at least one file there; the module zip ships one.
WEBUI_STATIC = Path("webui") / "static"


def traefik_ldflags(version: str = VERSION) -> str:
    """Traefik's own release ldflags (its Makefile), so `traefik version` names the release."""
    package = f"{MODULE}/pkg/version"
    return f"-s -w -X {package}.Version=v{version} -X {package}.Codename=modelship-build"


def copy_module(source: Path, target: Path) -> None:
    """A writable copy of the read-only module cache directory, to build in as main module.

    `go:embed static` fails on an empty directory, so if a module version ever ships
    `webui/static` empty, a placeholder is written there (the web UI is not served anyway).
    """
    shutil.copytree(source, target, symlinks=True)
    for root, dirs, files in os.walk(target):
        for name in [*dirs, *files]:
            path = Path(root) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
    Path(target).chmod(Path(target).stat().st_mode | stat.S_IWUSR)
    static = target / WEBUI_STATIC
    static.mkdir(parents=True, exist_ok=True)
    if not any(p.name[0] not in "._" for p in static.iterdir()):
        (static / "placeholder.md").write_text("The web UI is not built by modelship.\n")


def traefik_binary(settings: GoBuildSettings, progress: Progress = print_progress) -> Path:
    """The cached Traefik binary, built from the module proxy the first time.

    Cold on two loaded cores the compile takes tens of minutes (its dependencies include many
    cloud SDKs for providers the local cluster never enables); a cached binary costs nothing.
    """
    entry = entry_dir(settings.cache_root, "traefik", VERSION)
    if cached_manifest(entry, ["traefik"]) is not None:
        return entry / "bin" / "traefik"
    build = start_build(entry, settings, progress)
    go_version = require_go(settings.go, REQUIRED_GO, f"Traefik {VERSION}", build.env)
    progress(
        f"building Traefik {VERSION} from its Go module into {entry} (log: {build.log}); "
        "tens of minutes on two cores with cold Go caches, seconds when they are warm"
    )
    staging = new_staging(entry)
    try:
        (staging / "bin").mkdir()
        scratch = staging / "download"
        scratch.mkdir()
        (scratch / "go.mod").write_text("module local/modelship-traefik-download\n")
        source = download_module(build, scratch, f"{MODULE}@v{VERSION}")
        module = staging / "module"
        copy_module(source, module)
        build.run(
            [settings.go, "list", "-deps", "./cmd/traefik"],
            module,
            f"downloading the modules of Traefik {VERSION}",
        )
        build.go_build(
            module, "./cmd/traefik", staging / "bin" / "traefik", traefik_ldflags(), "traefik"
        )
        shutil.rmtree(module)
        shutil.rmtree(scratch)
        install(staging, entry, {"traefik": VERSION, "go": go_version, "components": ["traefik"]})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"Traefik {VERSION} ready in {entry / 'bin'}")
    return entry / "bin" / "traefik"


def traefik_environment(base: Mapping[str, str], kubeconfig: Path) -> dict[str, str]:
    """Traefik's environment: the cluster's kubeconfig, and never the in-cluster client.

    The provider prefers the in-cluster client when `KUBERNETES_SERVICE_HOST` is set, which a
    test run inside a pod would inherit; dropping it makes Traefik use `KUBECONFIG` always.
    """
    env = {k: v for k, v in base.items() if not k.startswith("KUBERNETES_SERVICE_")}
    env["KUBECONFIG"] = str(kubeconfig)
    return env


def static_config(
    port: int, host: str = "127.0.0.1", class_selector: str = "", log_level: str = "INFO"
) -> dict[str, Any]:
    """Traefik's static configuration: one HTTP entryPoint, the Gateway API provider, no more.

    No `api`, `ping` or `metrics` section, so Traefik opens no internal entryPoint (its
    dashboard port 8080); no version check and no usage statistics, so it never calls out.
    `statusAddress` is what the Gateway reports in `status.addresses`. The provider watches
    every namespace and only GatewayClasses naming `CONTROLLER_NAME` (and, with
    `class_selector`, carrying those labels: two Traefiks on one cluster then never program
    each other's Gateways).
    """
    if not 0 < port < 65536:
        raise ValueError(f"entryPoint port {port} is outside 1..65535")
    provider: dict[str, Any] = {"statusAddress": {"ip": host}}
    if class_selector:
        provider["labelSelector"] = class_selector
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "log": {"level": log_level, "noColor": True},
        "entryPoints": {ENTRYPOINT: {"address": f"{host}:{port}"}},
        "providers": {"kubernetesGateway": provider},
    }


def render_static_config(config: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(config), sort_keys=True)


def traefik_argv(binary: Path, config_file: Path) -> list[str]:
    return [str(binary), f"--configFile={config_file}"]


def gateway_class(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The GatewayClass Traefik's provider takes (it accepts it and reports so in its status)."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {"controllerName": CONTROLLER_NAME},
    }


def gateway(name: str, namespace: str, class_name: str, port: int) -> dict[str, Any]:
    """A plain HTTP Gateway accepting routes from every namespace.

    The listener's port is the entryPoint's: Traefik binds a listener to the entryPoint whose
    address ends in that port. Nothing here is Traefik's own: any implementation would take it.
    """
    listener = {
        "name": "http",
        "protocol": "HTTP",
        "port": port,
        "allowedRoutes": {"namespaces": {"from": "All"}},
    }
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"gatewayClassName": class_name, "listeners": [listener]},
    }


def start_traefik(
    binary: Path,
    directory: Path,
    port: int,
    kubeconfig: Path,
    host: str = "127.0.0.1",
    class_selector: str = "",
    log: Path | None = None,
) -> ProcessRecord:
    """Write the static config into `directory` and spawn Traefik, its output appended to `log`
    (default: `traefik.log` beside the config); stop it with `processes.stop([record])`."""
    directory.mkdir(parents=True, exist_ok=True)
    config_file = directory / "traefik.yaml"
    config = static_config(port, host, class_selector)
    config_file.write_text(render_static_config(config))
    return spawn(
        "traefik",
        traefik_argv(binary, config_file),
        log or directory / "traefik.log",
        env=traefik_environment(os.environ, kubeconfig),
        cwd=directory,
    )
