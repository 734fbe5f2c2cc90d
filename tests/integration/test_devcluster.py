"""The local control plane: real etcd, API server, controller manager and scheduler processes."""

from __future__ import annotations

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
    assert url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{url}/v2/", timeout=5).status_code == 200
    assert (
        dev_cluster.catalog_uri == f"oci://{url.removeprefix('http://')}/modelship?plain-http=true"
    )
    assert (dev_cluster.dev_dir / "registry").is_dir()  # its storage, under the cluster's directory
