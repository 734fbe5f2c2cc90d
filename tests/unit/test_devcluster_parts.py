"""Pure parts of the local control plane: ports, kubeconfigs, command lines, state, CRDs."""

from __future__ import annotations

import base64
import contextlib
import socket
import time
from pathlib import Path

import pytest
import yaml

from modelship.devcluster import controlplane
from modelship.devcluster.binaries import ControlPlaneBinaries
from modelship.devcluster.crds import load_crds
from modelship.devcluster.kubeconfig import read_kubeconfig, render_kubeconfig, write_kubeconfig
from modelship.devcluster.layout import DevLayout, default_dev_dir
from modelship.devcluster.ports import LOWEST, ephemeral_start, free_ports
from modelship.devcluster.processes import (
    ProcessRecord,
    is_alive,
    process_start_time,
    spawn,
    stop,
)
from modelship.devcluster.servicenet import AddressPlan
from modelship.devcluster.state import ClusterState

BINARIES = ControlPlaneBinaries(
    Path("/b/etcd"), Path("/b/kube-apiserver"), Path("/b/kcm"), Path("/b/kube-scheduler")
)
PORTS = controlplane.Ports(etcd_client=23790, etcd_peer=23800, apiserver=26443)
PLAN = AddressPlan(123)


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_free_ports_come_from_below_the_ephemeral_range_and_skip_taken_ones() -> None:
    """Outgoing connections draw their local ports from the ephemeral range, so a port chosen
    there can be taken before it is bound; below it, only listeners compete."""
    start = ephemeral_start()
    assert all(LOWEST <= port < start for port in free_ports(50))
    with socket.socket() as taken:
        with contextlib.suppress(OSError):  # already taken by someone else: as good
            taken.bind(("127.0.0.1", LOWEST))
        assert free_ports(1, start=LOWEST + 2) == [LOWEST + 1]


def test_the_ephemeral_start_is_read_from_the_kernel_or_defaulted(tmp_path: Path) -> None:
    source = tmp_path / "ip_local_port_range"
    source.write_text("40000\t60999\n")
    assert ephemeral_start(source) == 40000
    assert ephemeral_start(tmp_path / "absent") == 32768


def test_kubeconfig_round_trips_server_ca_and_token(tmp_path: Path) -> None:
    config = render_kubeconfig("https://127.0.0.1:1234", b"PEM", "tok", "admin")
    assert config["current-context"] == "modelship-dev"
    cluster = config["clusters"][0]["cluster"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"PEM"
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, config)
    assert path.stat().st_mode & 0o077 == 0
    assert read_kubeconfig(path) == ("https://127.0.0.1:1234", b"PEM", "tok")


def test_every_listener_uses_the_chosen_ports_on_loopback() -> None:
    layout = DevLayout(Path("/dev-dir"))
    etcd = controlplane.etcd_argv(BINARIES, layout, PORTS)
    assert "--listen-client-urls=http://127.0.0.1:23790" in etcd
    assert "--listen-peer-urls=http://127.0.0.1:23800" in etcd
    api = controlplane.apiserver_argv(BINARIES, layout, PORTS, PLAN)
    assert "--secure-port=26443" in api
    assert "--bind-address=127.0.0.1" in api
    # Flags a current release refuses (removed after 1.20) are gone.
    assert not [arg for arg in api if arg.startswith(("--insecure-port", "--insecure-bind"))]
    kcm = controlplane.controller_manager_argv(BINARIES, layout, Path("/k"), PLAN)
    assert "--secure-port=0" in kcm and not [arg for arg in kcm if arg.startswith("--port")]
    scheduler = controlplane.scheduler_argv(BINARIES, Path("/k"))
    assert scheduler[0] == "/b/kube-scheduler"
    assert "--secure-port=0" in scheduler and "--leader-elect=false" in scheduler


def test_api_server_authenticates_authorizes_and_signs_service_account_tokens() -> None:
    api = controlplane.apiserver_argv(BINARIES, DevLayout(Path("/d")), PORTS, PLAN)
    flags = dict(arg.split("=", 1) for arg in api[1:])
    assert flags["--authorization-mode"] == "Node,RBAC"
    assert flags["--token-auth-file"] == "/d/pki/tokens.csv"
    assert flags["--service-account-signing-key-file"] == "/d/pki/sa.key"
    assert "ServiceAccount" in flags["--enable-admission-plugins"].split(",")
    # Pod Security admission checks every pod against its namespace's labels.
    assert "PodSecurity" in flags["--enable-admission-plugins"].split(",")
    # Nothing would lift the not-ready taint it puts on a new Node (node lifecycle is off).
    assert flags["--disable-admission-plugins"] == "TaintNodesByCondition"
    assert flags["--service-cluster-ip-range"] == "10.123.128.0/20"
    # Without a service link nothing could reach the `kubernetes` Service's endpoint.
    assert flags["--endpoint-reconciler-type"] == "none"


def test_with_a_service_link_the_api_server_listens_and_advertises_there() -> None:
    routed = controlplane.Ports(23790, 23800, 26443, api_host=PLAN.host_address)
    api = controlplane.apiserver_argv(BINARIES, DevLayout(Path("/d")), routed, PLAN)
    flags = dict(arg.split("=", 1) for arg in api[1:])
    assert flags["--bind-address"] == flags["--advertise-address"] == "10.123.255.1"
    assert flags["--endpoint-reconciler-type"] == "lease"
    assert routed.apiserver_url == "https://10.123.255.1:26443"


def test_controller_manager_signs_tokens_and_leaves_the_node_alone() -> None:
    kcm = controlplane.controller_manager_argv(BINARIES, DevLayout(Path("/d")), Path("/k"), PLAN)
    flags = dict(arg.split("=", 1) for arg in kcm[1:])
    controllers = flags["--controllers"].split(",")
    assert {"-node-lifecycle-controller", "-taint-eviction-controller"} <= set(controllers)
    assert flags["--service-account-private-key-file"] == "/d/pki/sa.key"
    assert flags["--root-ca-file"] == "/d/pki/ca.crt"


def test_default_dev_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSHIP_DEV_DIR", "/somewhere")
    assert default_dev_dir() == Path("/somewhere")
    monkeypatch.delenv("MODELSHIP_DEV_DIR")
    assert default_dev_dir() == Path.cwd() / ".modelship" / "dev"


def test_state_round_trips(tmp_path: Path) -> None:
    record = ProcessRecord("etcd", 42, 7, ("etcd", "--x"), "/l")
    state = ClusterState(PORTS, {"etcd": record})
    state.save(tmp_path / "state.json")
    assert ClusterState.load(tmp_path / "state.json") == state
    assert ClusterState.load(tmp_path / "missing.json") == ClusterState()


def test_crds_are_read_from_every_yaml_but_the_kustomization(tmp_path: Path) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "models.modelship.io"}}  # fmt: skip
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(crd))
    (tmp_path / "kustomization.yaml").write_text("resources: [models.yaml]\n")
    assert [c["metadata"]["name"] for c in load_crds(tmp_path)] == ["models.modelship.io"]


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    # A shell that starts a child: both must be gone after stop().
    record = spawn("sh", ["sh", "-c", "sleep 60 & echo $! > child; wait"], tmp_path / "log",
                   cwd=tmp_path)  # fmt: skip
    child_file = tmp_path / "child"
    deadline = time.monotonic() + 5
    while not (child_file.exists() and child_file.read_text().strip()):
        assert time.monotonic() < deadline, "the shell never started its child"
        time.sleep(0.02)
    child = int(child_file.read_text())
    stop([record], grace=2)
    assert not is_alive(record)
    assert process_start_time(child) is None


def _fake_release(root: Path, version: str, etcd: str) -> None:
    """A cache entry as `gobuild` leaves it: binaries and a manifest naming the etcd."""
    import json

    for component, entry_version, names in (
        ("kubernetes", version, ("kube-apiserver", "kube-controller-manager", "kube-scheduler")),
        ("etcd", etcd, ("etcd", "etcdctl")),
    ):
        entry = root / f"{component}-{entry_version}-mod-r1"
        (entry / "bin").mkdir(parents=True)
        for name in names:
            (entry / "bin" / name).write_text("#!/bin/sh\n")
            (entry / "bin" / name).chmod(0o755)
        manifest = {"components": list(names), "etcd": etcd, "kubernetes": entry_version}
        (entry / "build.json").write_text(json.dumps(manifest))


def test_the_newest_supported_release_is_the_default_and_the_environment_picks_another(
    tmp_path: Path,
) -> None:
    from modelship.devcluster import binaries

    _fake_release(tmp_path / "modelship", binaries.NEWEST_SUPPORTED, "3.7.0")
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    found = binaries.resolve_binaries(build=False, environ=environ)
    assert found.kube_scheduler.parent.parent.name.startswith(
        f"kubernetes-{binaries.NEWEST_SUPPORTED}"
    )
    assert found.etcd.parent.parent.name == "etcd-3.7.0-mod-r1"
    older = {**environ, binaries.VERSION_ENV: binaries.OLDEST_SUPPORTED}
    with pytest.raises(binaries.BinariesError, match=f"{binaries.OLDEST_SUPPORTED} is not built"):
        binaries.resolve_binaries(build=False, environ=older)


def test_an_explicit_directory_must_hold_every_component(tmp_path: Path) -> None:
    from modelship.devcluster import binaries

    (tmp_path / "etcd").write_text("")
    (tmp_path / "etcd").chmod(0o755)
    with pytest.raises(binaries.BinariesError, match="kube-scheduler"):
        binaries.resolve_binaries(environ={"KUBEBUILDER_ASSETS": str(tmp_path)})
