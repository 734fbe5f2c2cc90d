"""Services route and names resolve on the local cluster: kube-proxy, CoreDNS, and nothing leaves.

A plain web pod behind a ClusterIP and a NodePort Service is called from the host through both,
and from another pod by its DNS name; addresses of the cluster's ranges that nothing holds are
refused on this machine at once.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import kubernetes
import pytest

from modelship.devcluster.cluster import DevCluster
from modelship.devcluster.servicenet import AddressPlan
from support.accounts import create_namespace
from support.waiting import wait_for

pytestmark = pytest.mark.integration

WEB = """
import http.server, os
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from " + os.environ["HOSTNAME"]).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((os.environ["MODELSHIP_BIND_HOST"], 8080), Hello).serve_forever()
"""

CLIENT = """
import socket, urllib.request, sys
by_name = socket.gethostbyname("web.{namespace}.svc.cluster.local")
answer = urllib.request.urlopen("http://web/", timeout=10).read().decode()
try:
    socket.gethostbyname("pypi.org")
    outside = "resolved"
except OSError:
    outside = "refused"
with open("/dev/termination-log", "w") as out:
    out.write(f"{{by_name}} {{answer}} outside={{outside}}")
"""


@pytest.fixture(scope="module")
def plan(dev_cluster: DevCluster) -> AddressPlan:
    return AddressPlan(json.loads((dev_cluster.dev_dir / "node.json").read_text())["subnetOctet"])


@pytest.fixture(scope="module")
def web(kube_api: kubernetes.client.ApiClient) -> Iterator[tuple[str, str, int]]:
    """(namespace, ClusterIP, NodePort) of a web pod's two Services."""
    core = kubernetes.client.CoreV1Api(kube_api)
    namespace = create_namespace(core, f"services-{uuid.uuid4().hex[:8]}")
    labels = {"app": "web"}
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "web", "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "modelship:dev",
                                 "command": ["python", "-c", WEB],
                                 "readinessProbe": {"tcpSocket": {"port": 8080},
                                                    "periodSeconds": 1}}]},
    })  # fmt: skip
    cluster_ip = core.create_namespaced_service(namespace, {
        "metadata": {"name": "web"},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
    }).spec.cluster_ip  # fmt: skip
    node_port = core.create_namespaced_service(namespace, {
        "metadata": {"name": "web-nodeport"},
        "spec": {"type": "NodePort", "selector": labels,
                 "ports": [{"port": 80, "targetPort": 8080}]},
    }).spec.ports[0].node_port  # fmt: skip
    yield namespace, cluster_ip, node_port
    core.delete_namespace(namespace)


def _get(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def test_the_host_calls_a_pod_through_its_cluster_ip_and_its_node_port(
    web: tuple[str, str, int], plan: AddressPlan
) -> None:
    _, cluster_ip, node_port = web
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(plan.service_range)
    answer = wait_for(lambda: _get(f"http://{cluster_ip}/"), timeout=90, what="the ClusterIP")
    assert answer == "hello from web"
    via_node = wait_for(lambda: _get(f"http://{plan.proxy_address}:{node_port}/"), timeout=30,
                        what="the NodePort")  # fmt: skip
    assert via_node == "hello from web"


def test_a_pod_finds_the_service_by_name_and_nothing_outside_resolves(
    web: tuple[str, str, int], kube_api: kubernetes.client.ApiClient
) -> None:
    namespace, cluster_ip, _ = web
    wait_for(lambda: _get(f"http://{cluster_ip}/"), timeout=90, what="the ClusterIP")
    core = kubernetes.client.CoreV1Api(kube_api)
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "client"},
        "spec": {"restartPolicy": "Never",
                 "containers": [{"name": "main", "image": "modelship:dev",
                                 "command": ["python", "-c", CLIENT.format(namespace=namespace)]}]},
    })  # fmt: skip

    def finished() -> kubernetes.client.V1Pod | None:
        pod = core.read_namespaced_pod("client", namespace)
        return pod if pod.status.phase in ("Succeeded", "Failed") else None

    pod = wait_for(finished, timeout=90, what="the client pod to finish")
    state = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Succeeded", state.message
    assert state.message == f"{cluster_ip} hello from web outside=refused"


def test_kubernetes_service_reaches_the_api_server(plan: AddressPlan) -> None:
    """The `kubernetes` Service's endpoint is the API server on the host end of the link."""
    with socket.create_connection((plan.kubernetes_service_ip, 443), timeout=5):
        pass


def test_addresses_nothing_holds_are_refused_here_at_once(
    web: tuple[str, str, int], plan: AddressPlan
) -> None:
    """No packet for the cluster's ranges leaves the machine: an unheld pod or Service address
    is refused by this machine's own routes (an ICMP error from here, never a timeout waiting
    for a far end), the host forwards nothing, and the service namespace has no route out."""
    unheld = [f"10.{plan.octet}.100.100", f"10.{plan.octet}.140.1", f"10.{plan.octet}.200.9"]
    for address in unheld:
        # The routes say so: the host sends it into the service namespace (or refuses it
        # itself), and there it ends in the namespace's unreachable route.
        host_route = subprocess.run(
            ["ip", "route", "get", address], capture_output=True, text=True
        )  # fmt: skip
        if host_route.returncode == 0:
            assert f"dev {plan.host_link}" in host_route.stdout, host_route
            inside = subprocess.run(
                ["ip", "-n", plan.namespace, "route", "get", address], capture_output=True,
                text=True,
            )  # fmt: skip
            assert inside.returncode != 0 and "no route to host" in inside.stderr.lower(), inside
        else:
            assert "no route to host" in host_route.stderr.lower(), host_route
        # And a connection learns it from an ICMP error sent here (a timeout has no errno).
        # Linux takes the error to a SYN that arrives while connect() still holds the socket
        # (a veth answers that fast) as a soft error, so it is the first retransmission (1 s)
        # that fails the connection, or on a busy machine the second (3 s): the errors are
        # sure, their timing is the kernel's.
        started = time.monotonic()
        with pytest.raises(OSError) as refused:
            socket.create_connection((address, 80), timeout=20).close()
        assert refused.value.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNREFUSED)
        assert time.monotonic() - started < 16.0, address
    with open("/proc/sys/net/ipv4/ip_forward") as forward:
        assert forward.read().strip() == "0"
    out = subprocess.run(
        ["ip", "-n", plan.namespace, "route", "get", "1.1.1.1"], capture_output=True, text=True
    )
    assert out.returncode != 0 and "unreachable" in out.stderr.lower(), out
