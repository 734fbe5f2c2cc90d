"""Traefik for the local cluster: its build recipe, static configuration and Gateway objects."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from modelship.devcluster.gocache import GoBuildSettings, entry_dir
from modelship.devcluster.processes import is_running
from modelship.devcluster.progress import BinariesError
from modelship.devcluster.traefik import (
    CONTROLLER_NAME,
    ENTRYPOINT,
    MODULE,
    VERSION,
    copy_module,
    gateway,
    gateway_class,
    render_static_config,
    start_traefik,
    static_config,
    traefik_argv,
    traefik_binary,
    traefik_environment,
    traefik_ldflags,
)
from support.waiting import wait_for


def test_the_static_config_opens_one_loopback_entrypoint_and_the_gateway_provider_only() -> None:
    config = static_config(18080)
    assert config["entryPoints"] == {ENTRYPOINT: {"address": "127.0.0.1:18080"}}
    assert config["providers"] == {"kubernetesGateway": {"statusAddress": {"ip": "127.0.0.1"}}}
    # No dashboard, API, ping or metrics: Traefik would open its internal :8080 entryPoint.
    assert not {"api", "ping", "metrics", "accessLog"} & set(config)
    # Never calls out: no version check, no usage statistics.
    assert config["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}


def test_a_class_selector_keeps_a_traefik_to_its_own_gateway_classes() -> None:
    provider = static_config(18080, class_selector="modelship.io/test-gateway=ab12")["providers"]
    assert provider["kubernetesGateway"]["labelSelector"] == "modelship.io/test-gateway=ab12"


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_a_port_outside_the_tcp_range_is_refused_by_value(port: int) -> None:
    with pytest.raises(ValueError, match=f"entryPoint port {port} is outside 1..65535"):
        static_config(port)


def test_the_rendered_config_is_the_yaml_traefik_reads_and_the_argv_names_it(
    tmp_path: Path,
) -> None:
    config = static_config(18081, host="127.0.0.2")
    assert yaml.safe_load(render_static_config(config)) == config
    binary, file = tmp_path / "traefik", tmp_path / "traefik.yaml"
    assert traefik_argv(binary, file) == [str(binary), f"--configFile={file}"]


def test_traefik_uses_the_kubeconfig_never_an_inherited_in_cluster_client(tmp_path: Path) -> None:
    base = {"PATH": "/usr/bin", "KUBERNETES_SERVICE_HOST": "10.0.0.1",
            "KUBERNETES_SERVICE_PORT": "443", "KUBECONFIG": "/elsewhere"}  # fmt: skip
    env = traefik_environment(base, tmp_path / "admin.kubeconfig")
    assert env == {"PATH": "/usr/bin", "KUBECONFIG": str(tmp_path / "admin.kubeconfig")}
    assert base["KUBECONFIG"] == "/elsewhere"  # the caller's mapping is left as it was


def test_the_gateway_class_names_traefiks_controller_and_its_gateway_listens_on_the_port() -> None:
    assert gateway_class("traefik", {"a": "b"}) == {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": {"name": "traefik", "labels": {"a": "b"}},
        "spec": {"controllerName": CONTROLLER_NAME},
    }
    body = gateway("public", "gateways", "traefik", 18080)
    assert body["metadata"] == {"name": "public", "namespace": "gateways"}
    assert body["spec"]["gatewayClassName"] == "traefik"
    (listener,) = body["spec"]["listeners"]
    assert (listener["protocol"], listener["port"]) == ("HTTP", 18080)
    assert listener["allowedRoutes"] == {"namespaces": {"from": "All"}}


def test_ldflags_name_the_release_in_traefiks_version_package() -> None:
    flags = traefik_ldflags("3.6.12")
    assert flags.startswith("-s -w ")
    assert f"-X {MODULE}/pkg/version.Version=v3.6.12" in flags


def read_only_module(root: Path, static_files: list[str]) -> Path:
    """A module directory as the Go module cache leaves it: every file and directory read-only."""
    (root / "cmd" / "traefik").mkdir(parents=True)
    (root / "cmd" / "traefik" / "main.go").write_text("package main\n")
    (root / "webui" / "static").mkdir(parents=True)
    for name in static_files:
        (root / "webui" / "static" / name).write_text("x\n")
    for path in sorted(root.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    root.chmod(0o555)
    return root


@pytest.mark.parametrize(
    ("shipped", "after"),
    [
        (["DONT-EDIT-FILES-IN-THIS-DIRECTORY.md"], ["DONT-EDIT-FILES-IN-THIS-DIRECTORY.md"]),
        ([".gitkeep"], [".gitkeep", "placeholder.md"]),  # go:embed skips dot files
        ([], ["placeholder.md"]),
    ],
)
def test_the_copy_is_writable_and_its_webui_embeds_at_least_one_file(
    tmp_path: Path, shipped: list[str], after: list[str]
) -> None:
    source = read_only_module(tmp_path / "cache", shipped)
    target = tmp_path / "staging" / "module"
    try:
        copy_module(source, target)
        assert sorted(p.name for p in (target / "webui" / "static").iterdir()) == after
        main = target / "cmd" / "traefik" / "main.go"
        assert main.stat().st_mode & stat.S_IWUSR and target.stat().st_mode & stat.S_IWUSR
        assert main.read_text() == "package main\n"
    finally:
        for path in [source, *source.rglob("*")]:
            path.chmod(0o755)


FAKE_GO = """#!/bin/sh
echo "$PWD $*" >> "{calls}"
case "$1" in
  env) echo go1.26.8 ;;
  mod) printf '{{"Path": "%s", "Dir": "{module}"}}\\n' "$4" ;;
  build) while [ "$1" != "-o" ]; do shift; done; printf '#!/bin/sh\\n' > "$2"; chmod +x "$2" ;;
esac
"""


def test_traefik_is_built_from_a_copy_of_its_module_as_the_main_module_and_cached(
    tmp_path: Path,
) -> None:
    module = read_only_module(tmp_path / "modcache" / f"traefik@v{VERSION}", ["README.md"])
    calls = tmp_path / "calls"
    go = tmp_path / "go"
    go.write_text(FAKE_GO.format(calls=calls, module=module))
    go.chmod(0o755)
    settings = GoBuildSettings.from_environ(
        {"XDG_CACHE_HOME": str(tmp_path / "cache"), "MODELSHIP_GO": str(go)}
    )
    said: list[str] = []
    try:
        binary = traefik_binary(settings, said.append)
    finally:
        for path in [module, *module.rglob("*")]:
            path.chmod(0o755)
    entry = entry_dir(settings.cache_root, "traefik", VERSION)
    assert binary == entry / "bin" / "traefik" and os.access(binary, os.X_OK)
    manifest = json.loads((entry / "build.json").read_text())
    assert manifest == {"traefik": VERSION, "go": "go1.26.8", "components": ["traefik"]}
    assert sorted(p.name for p in entry.iterdir()) == ["bin", "build.json"]  # no sources kept
    lines = calls.read_text().splitlines()
    assert lines[1].endswith(f"mod download -json {MODULE}@v{VERSION}")
    # `go list` and `go build` run inside the copy: it is the main module, its replaces apply.
    staged = lines[2].split()[0]
    assert staged.endswith("/module") and ".partial" in staged and lines[3].startswith(staged)
    assert lines[2].endswith("list -deps ./cmd/traefik")
    assert "-trimpath" in lines[3] and lines[3].endswith("./cmd/traefik")
    assert f"{MODULE}/pkg/version.Version=v{VERSION}" in lines[3]
    assert said[-1] == f"Traefik {VERSION} ready in {entry / 'bin'}"
    # cached: the second call runs nothing
    assert traefik_binary(settings, said.append) == binary
    assert len(calls.read_text().splitlines()) == len(lines)


def test_an_old_go_is_refused_before_anything_is_downloaded(tmp_path: Path) -> None:
    go = tmp_path / "go"
    go.write_text("#!/bin/sh\necho go1.22.1\n")
    go.chmod(0o755)
    settings = GoBuildSettings.from_environ(
        {"XDG_CACHE_HOME": str(tmp_path / "cache"), "MODELSHIP_GO": str(go)}
    )
    with pytest.raises(BinariesError, match=r"is go1\.22\.1, the module needs Go 1\.25\.0"):
        traefik_binary(settings, lambda _: None)


def test_traefik_is_started_with_its_config_file_and_the_clusters_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    fake = tmp_path / "traefik"
    fake.write_text('#!/bin/sh\necho "args: $*"\necho "kubeconfig: $KUBECONFIG"\n'
                    'echo "in-cluster: ${KUBERNETES_SERVICE_HOST:-none}"\n')  # fmt: skip
    fake.chmod(0o755)
    record = start_traefik(
        fake, tmp_path / "run", 18082, tmp_path / "kubeconfig", class_selector="k=v"
    )
    wait_for(lambda: not is_running(record), timeout=10, what="the fake Traefik to exit")
    config_file = tmp_path / "run" / "traefik.yaml"
    assert yaml.safe_load(config_file.read_text()) == static_config(18082, class_selector="k=v")
    assert record.argv == (str(fake), f"--configFile={config_file}")
    assert Path(record.log).read_text().splitlines() == [
        f"args: --configFile={config_file}",
        f"kubeconfig: {tmp_path / 'kubeconfig'}",
        "in-cluster: none",
    ]
