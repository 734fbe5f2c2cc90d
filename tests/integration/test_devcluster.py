"""The local control plane: real etcd, API server, controller manager and scheduler processes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import kubernetes
import pytest

from modelship.devcluster import processes
from modelship.devcluster.cluster import DevCluster
from modelship.devcluster.state import ClusterState
from support.accounts import service_account_token
from support.kubectl import Kubectl
from support.waiting import wait_for

pytestmark = pytest.mark.integration


def test_kubectl_reaches_the_cluster_with_the_written_kubeconfig(dev_cluster: DevCluster) -> None:
    result = Kubectl(dev_cluster.kubeconfig)("get", "namespaces")
    assert "kube-system" in result.stdout


@pytest.fixture
def namespace(plain_namespace: str) -> str:
    """The cluster's own mechanics, with pods a model namespace would refuse (busybox)."""
    return plain_namespace


def test_a_service_account_token_from_the_token_request_api_authenticates(
    kube_api: kubernetes.client.ApiClient, namespace: str, dev_cluster: DevCluster
) -> None:
    """No token Secrets since 1.24: a bound token is requested, and the API server knows it."""
    core = kubernetes.client.CoreV1Api(kube_api)
    assert not [
        s for s in core.list_namespaced_secret(namespace).items
        if s.type == "kubernetes.io/service-account-token"
    ]  # fmt: skip
    token = service_account_token(core, namespace, "default", seconds=600)
    who = Kubectl(dev_cluster.kubeconfig)(
        "--token", token, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"
    )
    assert who.stdout == f"system:serviceaccount:{namespace}:default"


def test_the_api_server_rejects_an_unknown_token(dev_cluster: DevCluster) -> None:
    result = Kubectl(dev_cluster.kubeconfig)("--token", "wrong", "get", "pods", check=False)
    assert result.returncode != 0
    assert "Unauthorized" in result.stderr or "provide credentials" in result.stderr


def test_the_job_controller_creates_pods(
    kube_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    batch = kubernetes.client.BatchV1Api(kube_api)
    core = kubernetes.client.CoreV1Api(kube_api)
    batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "hello"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
                    }
                }
            },
        },
    )
    pods = wait_for(
        lambda: core.list_namespaced_pod(namespace, label_selector="job-name=hello").items,
        what="the Job's pod",
    )
    assert pods[0].spec.containers[0].image == "busybox"


def test_a_second_cluster_runs_alongside_and_stops_completely(
    dev_cluster: DevCluster, tmp_path: Path
) -> None:
    second = DevCluster(tmp_path / "second", binaries=None, node=False)
    second.up()
    try:
        status = second.status()
        assert status.running
        assert status.server != dev_cluster.status().server
        assert status.registry is not None and status.registry != dev_cluster.status().registry
        records = list(ClusterState.load(second.layout.state_file).processes.values())
        assert {r.name for r in records} == {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "registry",
        }
    finally:
        second.down()
    assert not any(processes.is_alive(r) for r in records)
    assert not second.status().running
    assert dev_cluster.status().running
    second.down()  # idempotent


def test_the_cluster_runs_a_registry_and_says_where(
    dev_cluster: DevCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelship.cli import main

    url = (dev_cluster.dev_dir / "registry-url").read_text().strip()

    assert main(["dev", "--dev-dir", str(dev_cluster.dev_dir), "status"]) == 0
    assert f"registry    {url}" in capsys.readouterr().out
    # Where pods reach the host: the host's end of the cluster's service link.
    assert url.startswith(f"http://{dev_cluster.host_for_pods}:")
    assert dev_cluster.host_for_pods.endswith(".255.1")
    assert httpx.get(f"{url}/v2/", timeout=5).status_code == 200
    assert (
        dev_cluster.catalog_uri == f"oci://{url.removeprefix('http://')}/modelship?plain-http=true"
    )
    assert (dev_cluster.dev_dir / "registry").is_dir()  # its storage, under the cluster's directory


def test_pods_have_namespaces_of_their_own_and_the_rest_of_their_range_is_unreachable(
    dev_cluster: DevCluster, kube_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    """No packet for the pod range can leave the machine: a pod's address is routed into the
    cluster's own network namespace (where the pod's namespace hangs off a bridge), every
    address outside the pod and Service ranges has an unreachable route instead of the default
    route; and, unlike a loopback address, the EndpointSlice of a Service selecting the pod
    holds it."""
    core = kubernetes.client.CoreV1Api(kube_api)
    labels = {"app": "idle"}
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": "idle", "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "modelship:dev",
                                 "command": ["python", "-c", "import time; time.sleep(300)"]}]},
    })  # fmt: skip
    core.create_namespaced_service(namespace, {
        "metadata": {"name": "idle"},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": 80}]},
    })  # fmt: skip
    address = wait_for(lambda: core.read_namespaced_pod("idle", namespace).status.pod_ip,
                       what="the pod's address")  # fmt: skip
    octet = json.loads((dev_cluster.dev_dir / "node.json").read_text())["subnetOctet"]
    assert address.startswith(f"10.{octet}.")
    route = subprocess.run(["ip", "route", "get", address], capture_output=True, text=True)
    assert f" via 10.{octet}.255.2 dev modelship{octet}s " in route.stdout, route.stdout
    pod_namespace = f"modelship{octet}-" + "-".join(address.split(".")[2:])
    inside = subprocess.run(
        ["ip", "-n", pod_namespace, "-o", "-4", "addr", "show", "dev", "eth0"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"inet {address}/32" in inside
    # The pod's process runs in that namespace, not in the host's.
    uid = core.read_namespaced_pod("idle", namespace).metadata.uid
    record = json.loads((dev_cluster.layout.pods / uid / "pids" / "main.json").read_text())
    joined = os.readlink(f"/proc/{record['pid']}/ns/net")
    assert joined == f"net:[{os.stat(f'/run/netns/{pod_namespace}').st_ino}]"
    assert joined != os.readlink("/proc/self/ns/net")
    unheld = subprocess.run(
        ["ip", "route", "get", f"10.{octet}.255.254"], capture_output=True, text=True, check=False
    )
    assert unheld.returncode != 0 and "No route to host" in unheld.stderr, unheld
    discovery = kubernetes.client.DiscoveryV1Api(kube_api)

    def sliced() -> list[str]:
        slices = discovery.list_namespaced_endpoint_slice(
            namespace, label_selector="kubernetes.io/service-name=idle"
        ).items
        return [a for s in slices for e in s.endpoints or [] for a in e.addresses]

    assert wait_for(sliced, what="the pod in the Service's EndpointSlice") == [address]
