"""Pure parts of the local node: images, argv, env expansion, addresses, status, back-off."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from modelship.devcluster.layout import DevLayout
from modelship.devcluster.node.backoff import backoff_seconds, should_restart
from modelship.devcluster.node.launcher import _shadowed
from modelship.devcluster.node.logfiles import container_log, find_log, pod_log_dir
from modelship.devcluster.node.logserver import tail
from modelship.devcluster.node.network import AddressAllocator, PodNetwork, pick_subnet_octet
from modelship.devcluster.node.probes import ProbeState, resolve_port
from modelship.devcluster.node.provisioner import volume_for_claim, wants_volume
from modelship.devcluster.node.spec import (
    PermanentPodError,
    build_argv,
    check_image,
    expand,
    field_ref,
    image_repository,
)
from modelship.devcluster.node.status import conditions, phase

PYTHON = "/venv/bin/python"


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("modelship", "modelship"),
        ("modelship:dev", "modelship"),
        ("ghcr.io/acme/modelship:1.2@sha256:abc", "modelship"),
        ("localhost:5000/modelship", "modelship"),
        ("nginx:1.25", "nginx"),
    ],
)
def test_image_repository_is_the_last_path_part_without_tag(image: str, repository: str) -> None:
    assert image_repository(image) == repository


def test_a_foreign_image_is_refused_with_a_reason_naming_it() -> None:
    with pytest.raises(PermanentPodError) as error:
        check_image("nginx:1.25", ("modelship",))
    assert error.value.reason == "ErrImageNotRunnable"
    assert "nginx:1.25" in error.value.message
    check_image("registry/modelship:dev", ("modelship",))


def test_expansion_follows_kubernetes_rules() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)-$(C)-$$(A)", env) == "1-two-$(C)-$(A)"


def test_python_becomes_the_project_interpreter_and_args_are_expanded() -> None:
    container = {"name": "c", "command": ["python3", "-m", "x"], "args": ["--host=$(H)"]}
    assert build_argv(container, {"H": "127.1.0.2"}, PYTHON) == [
        PYTHON, "-m", "x", "--host=127.1.0.2",
    ]  # fmt: skip
    assert build_argv({"name": "c", "command": ["sh"]}, {}, PYTHON) == ["sh"]


def test_a_container_without_command_cannot_run_here() -> None:
    with pytest.raises(PermanentPodError, match="command"):
        build_argv({"name": "c", "args": ["x"]}, {}, PYTHON)


def test_field_refs() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "a"}},
           "spec": {"nodeName": "local-node"}}  # fmt: skip
    assert field_ref(pod, "metadata.name", "127.1.0.2", "127.0.0.1") == "p"
    assert field_ref(pod, "status.podIP", "127.1.0.2", "127.0.0.1") == "127.1.0.2"
    assert field_ref(pod, "metadata.labels['app']", "", "") == "a"
    with pytest.raises(PermanentPodError):
        field_ref(pod, "spec.unknown", "", "")


def test_addresses_are_unique_until_released() -> None:
    allocator = AddressAllocator(10, 123)
    first, second = allocator.allocate(), allocator.allocate()
    assert first != second
    assert first.startswith("10.123.") and second.startswith("10.123.")
    allocator.release(first)
    assert allocator.allocate() not in (first, second)  # freed addresses are reused last


def test_on_a_routed_cluster_each_pod_gets_a_namespace_on_the_bridge(tmp_path: Path) -> None:
    (tmp_path / "modelship150").touch()  # the cluster's service namespace exists
    (tmp_path / "modelship150-0-9").touch()  # a crashed node's pod namespace
    calls: list[list[str]] = []
    network = PodNetwork(150, run=lambda argv: calls.append(list(argv)), namespaces=tmp_path)
    assert network.routed
    assert calls == [["ip", "netns", "del", "modelship150-0-9"]]
    calls.clear()
    address = network.allocate()
    assert address.ip == "10.150.0.2"  # .0.1 is the bridge, every pod's default route
    assert address.netns == "modelship150-0-2"
    assert calls == [
        ["ip", "netns", "add", "modelship150-0-2"],
        ["ip", "-n", "modelship150", "link", "add", "vp0x2", "type", "veth", "peer", "name",
         "eth0", "netns", "modelship150-0-2"],
        ["ip", "-n", "modelship150", "link", "set", "vp0x2", "master", "cbr0", "up"],
        ["ip", "-n", "modelship150-0-2", "link", "set", "lo", "up"],
        ["ip", "-n", "modelship150-0-2", "addr", "add", "10.150.0.2/32", "dev", "eth0"],
        ["ip", "-n", "modelship150-0-2", "link", "set", "eth0", "up"],
        ["ip", "-n", "modelship150-0-2", "route", "add", "default", "via", "10.150.0.1", "dev",
         "eth0", "onlink"],
        ["ip", "-n", "modelship150", "route", "replace", "10.150.0.2/32", "dev", "cbr0"],
    ]  # fmt: skip
    calls.clear()
    network.release(address.ip)
    assert calls == [
        ["ip", "netns", "del", "modelship150-0-2"],
        ["ip", "-n", "modelship150", "route", "del", "10.150.0.2/32"],
    ]


def test_a_pod_namespace_that_cannot_be_built_is_removed_and_its_address_freed(
    tmp_path: Path,
) -> None:
    (tmp_path / "modelship150").touch()
    calls: list[list[str]] = []

    def run(argv: Sequence[str]) -> None:
        calls.append(list(argv))
        if "master" in argv:
            raise subprocess.CalledProcessError(2, list(argv), stderr="no such device")

    network = PodNetwork(150, run=run, namespaces=tmp_path)
    with pytest.raises(subprocess.CalledProcessError):
        network.allocate()
    assert calls[-2] == ["ip", "netns", "del", "modelship150-0-2"]
    calls.clear()
    run_ok = PodNetwork(150, run=lambda argv: calls.append(list(argv)), namespaces=tmp_path)
    assert run_ok.allocate().ip == "10.150.0.2"


def test_without_a_service_network_pods_fall_back_to_loopback(tmp_path: Path) -> None:
    calls: list[list[str]] = []
    network = PodNetwork(150, run=lambda argv: calls.append(list(argv)), namespaces=tmp_path)
    assert not network.routed
    address = network.allocate()
    assert address.ip.startswith("127.150.") and address.netns is None
    assert calls == []


def test_a_cluster_never_takes_an_octet_another_one_uses() -> None:
    taken = set(range(100, 254))
    assert pick_subnet_octet(taken=taken) == 254
    with pytest.raises(RuntimeError, match="in use"):
        pick_subnet_octet(taken=taken | {254})


def test_back_off_restarts_at_once_then_doubles_to_the_cap() -> None:
    assert [backoff_seconds(n, 10, 300) for n in range(7)] == [0, 10, 20, 40, 80, 160, 300]
    assert should_restart("Always", 0) and should_restart("OnFailure", 1)
    assert not should_restart("OnFailure", 0) and not should_restart("Never", 1)


def test_probe_thresholds() -> None:
    state = ProbeState({"failureThreshold": 2, "successThreshold": 1})
    assert state.record(False) is None
    assert state.record(False) is False
    assert state.record(True) is True
    assert resolve_port("http", {"ports": [{"name": "http", "containerPort": 8080}]}) == 8080
    assert resolve_port(9000, {}) == 9000


@dataclass
class FakeContainer:
    name: str = "c"
    ready: bool = False
    restart_count: int = 0
    will_restart: bool = True
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {}})
    last_state: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int | None:
        terminated = self.state.get("terminated")
        return int(terminated["exitCode"]) if terminated else None

    def status(self) -> dict[str, Any]:
        return {}


def test_pod_phase_follows_the_containers() -> None:
    assert phase([FakeContainer()], initialized=True, init_failed=False) == "Pending"
    running = FakeContainer(state={"running": {}})
    assert phase([running], True, False) == "Running"
    done = FakeContainer(state={"terminated": {"exitCode": 0}}, will_restart=False)
    failed = FakeContainer(state={"terminated": {"exitCode": 1}}, will_restart=False)
    assert phase([done], True, False) == "Succeeded"
    assert phase([done, failed], True, False) == "Failed"
    backing_off = FakeContainer(restart_count=1, last_state={"terminated": {"exitCode": 1}})
    assert phase([backing_off], True, False) == "Running"
    assert phase([running], False, True) == "Failed"


def test_conditions_keep_their_transition_time_until_they_change() -> None:
    first = conditions([], initialized=True, containers_ready=False, now="t1")
    second = conditions(first, initialized=True, containers_ready=True, now="t2")
    by_type = {c["type"]: c for c in second}
    assert by_type["Initialized"]["lastTransitionTime"] == "t1"
    assert by_type["Ready"] == {"type": "Ready", "status": "True", "lastProbeTime": None,
                                "lastTransitionTime": "t2"}  # fmt: skip


def test_a_claim_gets_a_host_directory_volume_bound_to_it(tmp_path: Path) -> None:
    claim = {
        "metadata": {"name": "data", "namespace": "ns", "uid": "u1"},
        "spec": {"storageClassName": "local-path", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "2Gi"}}},
        "status": {"phase": "Pending"},
    }  # fmt: skip
    assert wants_volume(claim, {"local-path"})
    assert not wants_volume(claim, {"other"})
    volume = volume_for_claim(claim, tmp_path)
    assert volume["metadata"]["name"] == "pvc-u1"
    assert volume["spec"]["claimRef"]["uid"] == "u1"
    assert volume["spec"]["capacity"] == {"storage": "2Gi"}
    assert volume["spec"]["hostPath"]["path"] == str(tmp_path / "ns_data_u1")


def test_logs_are_found_per_container_and_run(tmp_path: Path) -> None:
    layout = DevLayout(tmp_path)
    log_dir = pod_log_dir(layout, "ns", "p", "uid")
    log_dir.mkdir(parents=True)
    for restart in (0, 1, 10):
        container_log(log_dir, "main", restart).write_text(str(restart))
    assert find_log(layout, "ns", "p", None).read_text() == "10"
    assert find_log(layout, "ns", "p", "main", previous=True).read_text() == "1"
    with pytest.raises(LookupError):
        find_log(layout, "ns", "other", None)


def test_a_volume_over_a_parent_of_the_interpreter_shadows_it() -> None:
    assert _shadowed("/work/main/.venv", ["/data", "/work"])
    assert _shadowed("/work", ["/work"])
    assert not _shadowed("/workspace/.venv", ["/work"])


def test_log_tail_and_limit() -> None:
    data = b"a\nb\nc\n"
    assert tail(data, 2, None) == b"b\nc\n"
    assert tail(data, 0, None) == b""
    assert tail(data, None, 3) == b"a\nb"
