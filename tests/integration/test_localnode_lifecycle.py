"""The local node keeps pods running as the real controllers ask: Deployments that scale, pods
sharing a port, liveness restarts, graceful deletion, active deadlines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest

from modelship.devcluster.cluster import DevCluster
from modelship.devcluster.node.logfiles import find_log
from modelship.devcluster.node.pidfiles import recorded_processes
from modelship.devcluster.processes import is_alive
from support.waiting import wait_for

pytestmark = pytest.mark.integration
IMAGE = "modelship:dev"


HTTP_READY = {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}


def serving_deployment(
    name: str, replicas: int, readiness: dict[str, Any] = HTTP_READY
) -> dict[str, Any]:
    server = (
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = os.environ['HOSTNAME'].encode()\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
        "http.server.HTTPServer((os.environ['MODELSHIP_BIND_HOST'], 8080), H).serve_forever()\n"
    )
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "server",
                            "image": IMAGE,
                            "command": ["python", "-c", server],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": readiness,
                        }
                    ],
                },
            },
        },
    }


@pytest.fixture
def namespace(plain_namespace: str) -> str:
    """The local node's own behaviour, with pods that carry no security context."""
    return plain_namespace


def available_replicas(apps: kubernetes.client.AppsV1Api, namespace: str, name: str) -> int:
    status = apps.read_namespaced_deployment_status(name, namespace).status
    available = any(c.type == "Available" and c.status == "True" for c in status.conditions or [])
    return int(status.ready_replicas or 0) if available else -1


def pod_processes(dev_cluster: DevCluster, pods: list[Any]) -> list[Any]:
    uids = {p.metadata.uid for p in pods}
    return [
        r for r in recorded_processes(dev_cluster.layout)
        if Path(r.log).parent.name.rsplit("_", 1)[-1] in uids and is_alive(r)
    ]  # fmt: skip


def test_a_deployment_becomes_available_scales_and_is_deleted_with_its_processes(
    kube_api: kubernetes.client.ApiClient, namespace: str,
    dev_cluster: DevCluster,
) -> None:  # fmt: skip
    apps = kubernetes.client.AppsV1Api(kube_api)
    core = kubernetes.client.CoreV1Api(kube_api)
    apps.create_namespaced_deployment(namespace, serving_deployment("web", 2))
    wait_for(lambda: available_replicas(apps, namespace, "web") == 2, what="2 ready replicas")

    def pods() -> list[Any]:
        return core.list_namespaced_pod(namespace, label_selector="app=web").items

    assert len(pod_processes(dev_cluster, pods())) == 2

    apps.patch_namespaced_deployment_scale(namespace=namespace, name="web",
                                           body={"spec": {"replicas": 3}})  # fmt: skip
    wait_for(lambda: available_replicas(apps, namespace, "web") == 3, what="3 ready replicas")
    three = pods()
    assert len(pod_processes(dev_cluster, three)) == 3

    apps.patch_namespaced_deployment_scale(namespace=namespace, name="web",
                                           body={"spec": {"replicas": 1}})  # fmt: skip
    wait_for(lambda: len(pods()) == 1, what="scale-down to one pod")
    wait_for(lambda: available_replicas(apps, namespace, "web") == 1, what="1 ready replica")
    assert len(pod_processes(dev_cluster, three)) == 1  # the others stopped before their pods went

    last = pods()
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Foreground")
    wait_for(
        lambda: not pods() and not apps.list_namespaced_replica_set(namespace).items,
        what="the ReplicaSet and pods to be deleted",
    )
    wait_for(lambda: not pod_processes(dev_cluster, last), what="the last process to stop")


def test_two_pods_listening_on_the_same_port_both_serve(
    kube_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    apps = kubernetes.client.AppsV1Api(kube_api)
    core = kubernetes.client.CoreV1Api(kube_api)
    tcp_ready = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    apps.create_namespaced_deployment(namespace, serving_deployment("twin", 2, tcp_ready))
    wait_for(lambda: available_replicas(apps, namespace, "twin") == 2, what="both ready")
    pods = core.list_namespaced_pod(namespace, label_selector="app=twin").items
    answers = {httpx.get(f"http://{p.status.pod_ip}:8080/").text for p in pods}
    assert answers == {p.metadata.name for p in pods}
    assert len({p.status.pod_ip for p in pods}) == 2


GRACEFUL = """
import signal, sys, time
def stop(*_):
    print("got SIGTERM", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("up", flush=True)
open("/state/up", "w").close()
while True:
    time.sleep(0.1)
"""


def test_liveness_failure_restarts_the_container_and_deletion_is_graceful(
    kube_api: kubernetes.client.ApiClient, namespace: str,
    dev_cluster: DevCluster,
) -> None:  # fmt: skip
    core = kubernetes.client.CoreV1Api(kube_api)
    # Once the process is up, one check fails (and leaves a mark in the pod's emptyDir).
    fail_once = (
        "import os; up, p = os.path.exists('/state/up'), '/state/failed'\n"
        "if up and not os.path.exists(p): open(p, 'w'); exit(1)"
    )
    liveness = {"exec": {"command": ["python", "-c", fail_once]},
                "periodSeconds": 1, "failureThreshold": 1}  # fmt: skip
    pod = {
        "metadata": {"name": "flaky"},
        "spec": {
            "terminationGracePeriodSeconds": 20,
            "volumes": [{"name": "state", "emptyDir": {}}],
            "containers": [{"name": "main", "image": IMAGE, "command": ["python", "-c", GRACEFUL],
                            "livenessProbe": liveness,
                            "volumeMounts": [{"name": "state", "mountPath": "/state"}]}],
        },
    }  # fmt: skip
    core.create_namespaced_pod(namespace, pod)
    status = wait_for(
        lambda: (
            (s := core.read_namespaced_pod("flaky", namespace).status.container_statuses)
            and s[0].restart_count >= 1
            and s[0]
        ),
        what="a restart after the liveness probe failed",
    )
    assert status.last_state.terminated.exit_code == 0  # it handled SIGTERM and exited cleanly

    def current_log() -> str:
        return find_log(dev_cluster.layout, namespace, "flaky", "main").read_text()

    # The restarted process has installed its SIGTERM handler once it says "up".
    wait_for(lambda: current_log() == "up\n", what="the restarted container to be up")
    core.delete_namespaced_pod("flaky", namespace)
    wait_for(
        lambda: not core.list_namespaced_pod(namespace, field_selector="metadata.name=flaky").items,
        timeout=15,
        what="the pod to be gone well before its 20s grace period",
    )
    assert current_log().splitlines() == ["up", "got SIGTERM"]


def test_a_pod_past_its_active_deadline_is_stopped_and_failed(
    kube_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(kube_api)
    pod = {
        "metadata": {"name": "slow"},
        "spec": {
            "activeDeadlineSeconds": 1,
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": IMAGE,
                            "command": ["python", "-c", "import time; time.sleep(60)"]}],
        },
    }  # fmt: skip
    core.create_namespaced_pod(namespace, pod)
    status = wait_for(
        lambda: (s := core.read_namespaced_pod("slow", namespace).status).phase == "Failed" and s,
        timeout=30,
        what="the pod to fail",
    )
    assert status.reason == "DeadlineExceeded"
    assert status.container_statuses[0].state.terminated.exit_code == 143  # SIGTERM
