"""The cluster's address plan and its service network: where kube-proxy routes Services.

Each local cluster owns `10.<n>.0.0/16` (`n` kept in the dev directory's node.json):

| range            | what                                                              |
|------------------|-------------------------------------------------------------------|
| `10.n.0.0/17`    | pods (node/network.py); `.0.1` is their bridge, `cbr0`            |
| `10.n.128.0/20`  | Service ClusterIPs; `.1` is `kubernetes`, `.10` is `kube-dns`     |
| `10.n.255.0/30`  | the service link: `.1` on the host (API server, CoreDNS), `.2` in |
|                  | the service namespace (kube-proxy's NodePorts)                    |

Each cluster has a network namespace of its own, `modelship<n>`, the node's network: the pods'
bridge `cbr0` is in it (each pod's namespace has a veth on it), and so is kube-proxy, which
programs the netfilter tables of the namespace it runs in (two clusters on one machine, parallel
test workers, would otherwise overwrite each other's tables in the host's). One veth pair, the
service link, joins it to the host, which routes the pod and Service ranges into it. kube-proxy
rewrites a ClusterIP to an endpoint and, with `masqueradeAll`, the source to the namespace's own
address, so every answer comes back through it to be un-NATed. Pods reach the API server and
CoreDNS on the host's end of the link.

Why nothing can leave the machine:
- the host keeps `ip_forward` off, so it delivers what the service namespace sends it to its own
  addresses only and forwards nothing;
- the service namespace has no default route: its only links are the host's and the pods', and
  it holds an `unreachable` route for the rest of the /16; pods' default route ends there;
- the host holds an `unreachable` route for the whole /16, so an address of the range that no pod
  holds and no route covers is refused at once ("No route to host").
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelship.devcluster.node.network import POD_BRIDGE

log = logging.getLogger(__name__)
Run = Callable[[Sequence[str]], None]


@dataclass(frozen=True)
class AddressPlan:
    """Every address range of the cluster whose /16 is `10.<octet>.0.0/16`."""

    octet: int

    def __post_init__(self) -> None:
        if not 1 <= self.octet <= 254:
            raise ValueError(f"second octet {self.octet} is outside 1..254")

    def _at(self, suffix: str) -> str:
        return f"10.{self.octet}.{suffix}"

    @property
    def cluster_range(self) -> str:
        return self._at("0.0/16")

    @property
    def pod_range(self) -> str:
        return self._at("0.0/17")

    @property
    def pod_gateway(self) -> str:
        """The pods' bridge in the service namespace: every pod's default route."""
        return self._at("0.1")

    @property
    def service_range(self) -> str:
        return self._at("128.0/20")

    @property
    def kubernetes_service_ip(self) -> str:
        return self._at("128.1")

    @property
    def dns_service_ip(self) -> str:
        return self._at("128.10")

    @property
    def host_address(self) -> str:
        """The host's end of the service link: where pods and kube-proxy reach the API server."""
        return self._at("255.1")

    @property
    def proxy_address(self) -> str:
        """The service namespace's end: kube-proxy's node address (NodePorts answer here)."""
        return self._at("255.2")

    @property
    def link(self) -> str:
        return self._at("255.0/30")

    @property
    def namespace(self) -> str:
        return f"modelship{self.octet}"

    @property
    def host_link(self) -> str:
        return f"modelship{self.octet}s"  # 13 characters at most: within IFNAMSIZ

    def holds(self, address: str) -> bool:
        return ipaddress.ip_address(address) in ipaddress.ip_network(self.cluster_range)


SYSCTLS = "echo 1 > /proc/sys/net/ipv4/ip_forward && echo 0 > /proc/sys/net/ipv4/icmp_ratelimit"


@dataclass(frozen=True)
class ServiceNetworkCommands:
    """The `ip` commands that build and remove the service network (pure, so unit-tested)."""

    plan: AddressPlan

    def _in(self, *argv: str) -> list[str]:
        return ["ip", "-n", self.plan.namespace, *argv]

    def create(self) -> list[list[str]]:
        p = self.plan
        return [
            ["ip", "netns", "add", p.namespace],
            [
                "ip",
                "link",
                "add",
                p.host_link,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                p.namespace,
            ],
            ["ip", "addr", "add", f"{p.host_address}/30", "dev", p.host_link],
            ["ip", "link", "set", p.host_link, "up"],
            self._in("link", "set", "lo", "up"),
            self._in("addr", "add", f"{p.proxy_address}/30", "dev", "eth0"),
            self._in("link", "set", "eth0", "up"),
            # The pods' bridge: each pod namespace's veth is a port of it (node/network.py).
            self._in("link", "add", POD_BRIDGE, "type", "bridge"),
            # /32: the bridge carries one route per pod (node/network.py), not the whole /17.
            self._in("addr", "add", f"{p.pod_gateway}/32", "dev", POD_BRIDGE),
            self._in("link", "set", POD_BRIDGE, "up"),
            self._in("route", "add", "unreachable", p.cluster_range),
            # Forwarding inside the namespace only (ip_forward is per network namespace), and
            # every refusal answered at once: ICMP errors are rate-limited per destination by
            # default, which would let the third refused connection from one pod time out.
            ["ip", "netns", "exec", p.namespace, "sh", "-c", SYSCTLS],
            ["ip", "route", "replace", "unreachable", p.cluster_range],
            ["ip", "route", "replace", p.service_range, "via", p.proxy_address, "dev", p.host_link],
            ["ip", "route", "replace", p.pod_range, "via", p.proxy_address, "dev", p.host_link],
        ]

    def remove(self) -> list[list[str]]:
        # Deleting the namespace deletes its end of the veth, and with it the host's end and
        # the routes through it; the host's unreachable route is the pod network's to remove.
        return [
            ["ip", "netns", "del", self.plan.namespace],
            ["ip", "link", "del", self.plan.host_link],
        ]


def run_ip(argv: Sequence[str]) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, text=True, timeout=30)


def create_service_network(plan: AddressPlan, run: Run = run_ip) -> bool:
    """Build the service network (after removing a crashed run's); False when it cannot be
    built here (not root, no `ip`): the cluster then runs without routed Services."""
    commands = ServiceNetworkCommands(plan)
    remove_service_network(plan, run)
    try:
        for argv in commands.create():
            run(argv)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or error
        log.warning(
            "no routed Services on this cluster: cannot build its service network: %s", detail
        )
        remove_service_network(plan, run)
        return False
    return True


def remove_service_network(
    plan: AddressPlan, run: Run = run_ip, namespaces: Path = Path("/run/netns")
) -> None:
    """Remove the service network and any pod namespace a crashed node left."""
    pods = [["ip", "netns", "del", p.name] for p in namespaces.glob(f"{plan.namespace}-*")]
    for argv in [*pods, *ServiceNetworkCommands(plan).remove()]:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            run(argv)


def kube_proxy_config(plan: AddressPlan, kubeconfig: Path, node_name: str) -> str:
    """kube-proxy's configuration: nftables mode, every ClusterIP connection masqueraded (the
    answer must come back through the service namespace to be un-NATed), NodePorts on the
    namespace's link address, and no sysctl written outside its own namespace."""
    return f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection:
  kubeconfig: {kubeconfig}
hostnameOverride: {node_name}
clusterCIDR: {plan.pod_range}
nodePortAddresses: ["{plan.proxy_address}/32"]
healthzBindAddress: ""
metricsBindAddress: ""
nftables:
  masqueradeAll: true
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
"""


def kube_proxy_argv(plan: AddressPlan, binary: Path, config: Path) -> list[str]:
    # `ip netns exec` execs the command, so the recorded pid is kube-proxy's own.
    return ["ip", "netns", "exec", plan.namespace, str(binary), f"--config={config}"]


def kube_dns_objects(plan: AddressPlan) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `kube-dns` Service and its EndpointSlice: CoreDNS runs on the host end of the link,
    not in a pod, so the slice names that address itself (as for any Service without a
    selector)."""
    ports = [("dns", "UDP"), ("dns-tcp", "TCP")]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns"},
        },
        "spec": {
            "clusterIP": plan.dns_service_ip,
            "ports": [{"name": n, "port": 53, "protocol": p, "targetPort": 53} for n, p in ports],
        },
    }
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kube-dns-coredns",
            "namespace": "kube-system",
            "labels": {
                "kubernetes.io/service-name": "kube-dns",
                "endpointslice.kubernetes.io/managed-by": "modelship.dev-local-cluster",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [plan.host_address], "conditions": {"ready": True}}],
        "ports": [{"name": n, "port": 53, "protocol": p} for n, p in ports],
    }
    return service, endpoint_slice
