"""The local cluster's address plan, service network commands, kube-proxy and CoreDNS settings."""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from modelship.devcluster import coredns, servicenet
from modelship.devcluster.node.network import AddressAllocator
from modelship.devcluster.pki import Pki
from modelship.devcluster.servicenet import AddressPlan, ServiceNetworkCommands

PLAN = AddressPlan(123)


def test_the_ranges_split_the_clusters_16_without_overlap() -> None:
    whole = ipaddress.ip_network(PLAN.cluster_range)
    parts = [ipaddress.ip_network(r) for r in (PLAN.pod_range, PLAN.service_range, PLAN.link)]
    assert all(part.subnet_of(whole) for part in parts)  # type: ignore[arg-type]
    for index, part in enumerate(parts):
        assert not any(part.overlaps(other) for other in parts[index + 1 :])
    service = ipaddress.ip_network(PLAN.service_range)
    assert ipaddress.ip_address(PLAN.kubernetes_service_ip) == service.network_address + 1
    assert ipaddress.ip_address(PLAN.dns_service_ip) in service
    link = ipaddress.ip_network(PLAN.link)
    assert {PLAN.host_address, PLAN.proxy_address} == {str(h) for h in link.hosts()}
    assert len(PLAN.host_link) <= 15  # IFNAMSIZ - 1
    with pytest.raises(ValueError, match=r"outside 1\.\.254"):
        AddressPlan(255)


def test_pod_addresses_stay_in_the_pod_range() -> None:
    allocator = AddressAllocator(10, 123)
    pods = ipaddress.ip_network(PLAN.pod_range)
    seen = {allocator.allocate() for _ in range(254 * 128 - 1)}
    assert len(seen) == 254 * 128 - 1
    assert all(ipaddress.ip_address(address) in pods for address in seen)
    with pytest.raises(RuntimeError, match="no free address"):
        allocator.allocate()


def test_the_host_refuses_the_whole_range_and_routes_pods_and_services_into_the_namespace() -> None:
    create = ServiceNetworkCommands(PLAN).create()
    host_routes = [argv for argv in create if argv[:2] == ["ip", "route"]]
    assert ["ip", "route", "replace", "unreachable", "10.123.0.0/16"] in host_routes
    assert ["ip", "route", "replace", "10.123.128.0/20", "via", "10.123.255.2", "dev",
            "modelship123s"] in host_routes  # fmt: skip
    # Nothing on the host turns forwarding on; no default route anywhere.
    assert not [argv for argv in create if "default" in argv]
    host_sysctls = [a for a in create if "ip_forward" in " ".join(a) and "exec" not in a]
    assert host_sysctls == []
    inside = [argv[3:] for argv in create if argv[:3] == ["ip", "-n", "modelship123"]]
    assert ["ip", "route", "replace", "10.123.0.0/17", "via", "10.123.255.2", "dev",
            "modelship123s"] in host_routes  # fmt: skip
    assert ["addr", "add", "10.123.0.1/32", "dev", "cbr0"] in inside
    assert ["route", "add", "unreachable", "10.123.0.0/16"] in inside
    assert ["ip", "netns", "del", "modelship123"] in ServiceNetworkCommands(PLAN).remove()


def test_a_failed_step_removes_what_was_built() -> None:
    ran: list[list[str]] = []

    def run(argv: Sequence[str]) -> None:
        ran.append(list(argv))
        if argv[:3] == ["ip", "link", "add"]:
            raise OSError("Operation not permitted")

    assert servicenet.create_service_network(PLAN, run) is False
    assert ran[-2:] == ServiceNetworkCommands(PLAN).remove()


def test_kube_proxy_runs_in_the_namespace_in_nftables_mode_masquerading_every_clusterip() -> None:
    config = yaml.safe_load(servicenet.kube_proxy_config(PLAN, Path("/k/admin"), "local-node"))
    assert config["kind"] == "KubeProxyConfiguration"
    assert config["mode"] == "nftables" and config["nftables"]["masqueradeAll"] is True
    assert config["clientConnection"]["kubeconfig"] == "/k/admin"
    assert config["nodePortAddresses"] == ["10.123.255.2/32"]
    # 0 leaves the machine-wide conntrack table size alone.
    assert config["conntrack"]["maxPerCore"] == 0
    argv = servicenet.kube_proxy_argv(PLAN, Path("/b/kube-proxy"), Path("/d/kp.yaml"))
    assert argv == ["ip", "netns", "exec", "modelship123", "/b/kube-proxy", "--config=/d/kp.yaml"]


def test_kube_dns_points_at_coredns_on_the_host_end_of_the_link() -> None:
    service, endpoint_slice = servicenet.kube_dns_objects(PLAN)
    assert service["spec"]["clusterIP"] == "10.123.128.10"
    assert "selector" not in service["spec"]
    assert endpoint_slice["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns"
    assert endpoint_slice["endpoints"][0]["addresses"] == ["10.123.255.1"]
    assert {p["protocol"] for p in endpoint_slice["ports"]} == {"UDP", "TCP"}


def test_coredns_is_built_with_the_cluster_plugins_and_no_forwarding() -> None:
    main = coredns.wrapper_main()
    assert '_ "github.com/coredns/coredns/plugin/kubernetes"' in main
    assert "forward" not in main
    assert 'dnsserver.Directives = []string{"bind", "errors", "log", "cache", "kubernetes"}' in main
    assert "require github.com/coredns/coredns v1.15.0" in coredns.wrapper_gomod()
    corefile = coredns.corefile("10.123.255.1", Path("/d/admin"), "modelship-dev")
    assert corefile.count("bind 10.123.255.1") == 2
    assert "kubeconfig /d/admin modelship-dev" in corefile
    assert "forward" not in corefile


def _pod(policy: str | None = None, **spec: object) -> dict[str, object]:
    body: dict[str, object] = dict(spec)
    if policy:
        body["dnsPolicy"] = policy
    return {"metadata": {"namespace": "shop"}, "spec": body}


def test_pods_resolve_through_kube_dns_as_their_dns_policy_says() -> None:
    cluster_first = coredns.pod_resolv_conf(_pod(), "10.123.128.10")
    assert cluster_first == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.123.128.10\noptions ndots:5\n"
    )
    assert coredns.pod_resolv_conf(_pod("Default"), "10.123.128.10") is None
    assert coredns.pod_resolv_conf(_pod(), None) is None
    assert coredns.pod_resolv_conf(_pod(hostNetwork=True), "10.123.128.10") is None
    with_host = coredns.pod_resolv_conf(
        _pod("ClusterFirstWithHostNet", hostNetwork=True), "10.123.128.10"
    )
    assert with_host is not None and "nameserver 10.123.128.10" in with_host
    custom = coredns.pod_resolv_conf(
        _pod("None", dnsConfig={"nameservers": ["10.123.255.1"], "searches": ["a.b"],
                                "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}),
        "10.123.128.10",
    )  # fmt: skip
    assert custom == "search a.b\nnameserver 10.123.255.1\noptions ndots:2 edns0\n"
    extra = coredns.pod_resolv_conf(
        _pod(dnsConfig={"options": [{"name": "ndots", "value": "1"}]}), "10.123.128.10"
    )
    assert extra is not None and extra.endswith("options ndots:1\n")


def test_the_api_server_certificate_is_reissued_when_its_addresses_change(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    pki.ensure([PLAN.kubernetes_service_ip])
    first = pki.cert("apiserver").read_bytes()
    ca = pki.ca_cert.read_bytes()
    pki.ensure([PLAN.kubernetes_service_ip])
    assert pki.cert("apiserver").read_bytes() == first  # unchanged addresses: kept
    pki.ensure([PLAN.kubernetes_service_ip, PLAN.host_address])
    reissued = pki.cert("apiserver").read_bytes()
    assert reissued != first and pki.ca_cert.read_bytes() == ca
    names = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(pki.cert("apiserver"))],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "IP Address:10.123.255.1" in names and "IP Address:10.123.128.1" in names


def test_a_pods_resolv_conf_is_written_even_before_its_directory_exists(tmp_path: Path) -> None:
    """A pod without volumes has no directory yet when its first container is planned."""
    from modelship.devcluster.node.launch import LaunchPlanner, NodeSettings

    settings = NodeSettings("10.123.255.1", 6443, "python", ("modelship",), 10.0, 300.0,
                            cluster_dns=PLAN.dns_service_ip)  # fmt: skip
    pod_dir = tmp_path / "pods" / "uid-1"
    planner = LaunchPlanner(None, settings, pod_dir, "10.123.0.2", "modelship123-0-2")  # type: ignore[arg-type]
    written = planner._resolv_conf(_pod())
    assert written == pod_dir / "resolv.conf"
    assert "nameserver 10.123.128.10" in written.read_text()
