"""The local control plane: real etcd, kube-apiserver and kube-controller-manager processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from modelship.devcluster import processes
from modelship.devcluster.cluster import DevCluster
from modelship.devcluster.state import ClusterState

pytestmark = pytest.mark.integration
KUBECTL = Path(sys.executable).with_name("kubectl")


def test_kubectl_reaches_the_cluster_with_the_written_kubeconfig(dev_cluster: DevCluster) -> None:
    result = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(dev_cluster.kubeconfig), "get", "namespaces"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "kube-system" in result.stdout


def test_a_namespace_gets_its_default_service_account_token(
    kube_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(kube_api)
    secrets = core.list_namespaced_secret(namespace).items
    assert any(s.type == "kubernetes.io/service-account-token" for s in secrets)


def test_the_api_server_rejects_an_unknown_token(dev_cluster: DevCluster) -> None:
    result = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(dev_cluster.kubeconfig), "--token", "wrong",
         "get", "pods"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Unauthorized" in result.stderr or "provide credentials" in result.stderr


def test_the_job_controller_creates_pods(
    kube_api: kubernetes.client.ApiClient, namespace: str, wait_until: Callable[..., Any]
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
    pods = wait_until(
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
        records = list(ClusterState.load(second.layout.state_file).processes.values())
        assert {r.name for r in records} == {"etcd", "kube-apiserver", "kube-controller-manager"}
    finally:
        second.down()
    assert not any(processes.is_alive(r) for r in records)
    assert not second.status().running
    assert dev_cluster.status().running
    second.down()  # idempotent
