"""The local node runs the project's pods as local processes, driven by the real controllers."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest

from modelship.devcluster.cluster import DevCluster
from modelship.devcluster.node.logfiles import find_log
from modelship.devcluster.node.pidfiles import recorded_processes
from modelship.devcluster.processes import is_alive

pytestmark = pytest.mark.integration
Wait = Callable[..., Any]
IMAGE = "modelship:dev"


def job(name: str, script: str, backoff_limit: int = 0, **container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "main", "image": IMAGE, "command": ["python", "-c", script],
                         **container}
                    ],
                }
            },
        },
    }  # fmt: skip


def job_condition(batch: kubernetes.client.BatchV1Api, namespace: str, name: str) -> str | None:
    status = batch.read_namespaced_job_status(name, namespace).status
    for condition in status.conditions or []:
        if condition.status == "True" and condition.type in ("Complete", "Failed"):
            return str(condition.type)
    return None


def test_a_job_whose_container_exits_zero_completes(
    kube_api: kubernetes.client.ApiClient, namespace: str, wait_until: Wait,
    dev_cluster: DevCluster, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    batch = kubernetes.client.BatchV1Api(kube_api)
    batch.create_namespaced_job(namespace, job("ok", "print('trained')"))
    outcome = wait_until(lambda: job_condition(batch, namespace, "ok"), what="the Job to finish")
    assert outcome == "Complete"

    core = kubernetes.client.CoreV1Api(kube_api)
    pod = core.list_namespaced_pod(namespace, label_selector="job-name=ok").items[0]
    from modelship.cli import main

    assert main(["dev", "--dev-dir", str(dev_cluster.dev_dir), "logs", pod.metadata.name,
                 "-n", namespace]) == 0  # fmt: skip
    assert capsys.readouterr().out == "trained\n"
    kubectl = Path(sys.executable).with_name("kubectl")
    logs = subprocess.run(
        [str(kubectl), "--kubeconfig", str(dev_cluster.kubeconfig), "logs", "-n", namespace,
         pod.metadata.name],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert logs.stdout == "trained\n"


def test_a_failing_job_is_retried_up_to_its_backoff_limit_and_reports_why(
    kube_api: kubernetes.client.ApiClient, namespace: str, wait_until: Wait
) -> None:
    script = "open('/dev/termination-log', 'w').write('dataset is empty'); raise SystemExit(1)"
    batch = kubernetes.client.BatchV1Api(kube_api)
    batch.create_namespaced_job(namespace, job("bad", script, backoff_limit=1))
    outcome = wait_until(
        lambda: job_condition(batch, namespace, "bad"), timeout=90, what="the Job to fail"
    )
    assert outcome == "Failed"
    core = kubernetes.client.CoreV1Api(kube_api)
    pods = core.list_namespaced_pod(namespace, label_selector="job-name=bad").items
    assert len(pods) == 2  # the first try and one retry
    for pod in pods:
        assert pod.status.phase == "Failed"
        terminated = pod.status.container_statuses[0].state.terminated
        assert terminated.exit_code == 1
        assert terminated.reason == "Error"
        assert terminated.message == "dataset is empty"


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
    kube_api: kubernetes.client.ApiClient, namespace: str, wait_until: Wait,
    dev_cluster: DevCluster,
) -> None:  # fmt: skip
    apps = kubernetes.client.AppsV1Api(kube_api)
    core = kubernetes.client.CoreV1Api(kube_api)
    apps.create_namespaced_deployment(namespace, serving_deployment("web", 2))
    wait_until(lambda: available_replicas(apps, namespace, "web") == 2, what="2 ready replicas")

    def pods() -> list[Any]:
        return core.list_namespaced_pod(namespace, label_selector="app=web").items

    assert len(pod_processes(dev_cluster, pods())) == 2

    apps.patch_namespaced_deployment_scale(namespace=namespace, name="web",
                                           body={"spec": {"replicas": 3}})  # fmt: skip
    wait_until(lambda: available_replicas(apps, namespace, "web") == 3, what="3 ready replicas")
    three = pods()
    assert len(pod_processes(dev_cluster, three)) == 3

    apps.patch_namespaced_deployment_scale(namespace=namespace, name="web",
                                           body={"spec": {"replicas": 1}})  # fmt: skip
    wait_until(lambda: len(pods()) == 1, what="scale-down to one pod")
    wait_until(lambda: available_replicas(apps, namespace, "web") == 1, what="1 ready replica")
    assert len(pod_processes(dev_cluster, three)) == 1  # the others stopped before their pods went

    last = pods()
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Foreground")
    wait_until(
        lambda: not pods() and not apps.list_namespaced_replica_set(namespace).items,
        what="the ReplicaSet and pods to be deleted",
    )
    wait_until(lambda: not pod_processes(dev_cluster, last), what="the last process to stop")


def test_two_pods_listening_on_the_same_port_both_serve(
    kube_api: kubernetes.client.ApiClient, namespace: str, wait_until: Wait
) -> None:
    apps = kubernetes.client.AppsV1Api(kube_api)
    core = kubernetes.client.CoreV1Api(kube_api)
    tcp_ready = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    apps.create_namespaced_deployment(namespace, serving_deployment("twin", 2, tcp_ready))
    wait_until(lambda: available_replicas(apps, namespace, "twin") == 2, what="both ready")
    pods = core.list_namespaced_pod(namespace, label_selector="app=twin").items
    answers = {httpx.get(f"http://{p.status.pod_ip}:8080/").text for p in pods}
    assert answers == {p.metadata.name for p in pods}
    assert len({p.status.pod_ip for p in pods}) == 2


READER = """
import json, os
from kubernetes import client, config
config.load_incluster_config()
pods = client.CoreV1Api().list_namespaced_pod(os.environ["NAMESPACE"])
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
report = {
    "claim": open("/data/written-by-writer").read(),
    "config": open("/etc/cfg/greeting").read(),
    "secret": open("/etc/sec/password").read(),
    "namespace": open(sa + "/namespace").read(),
    "has_token": bool(open(sa + "/token").read()),
    "pods": sorted(p.metadata.name for p in pods.items),
}
open("/dev/termination-log", "w").write(json.dumps(report))
"""


def test_a_pod_sees_its_claim_config_secret_and_token_and_uses_in_cluster_config(
    kube_api: kubernetes.client.ApiClient, namespace: str, wait_until: Wait
) -> None:
    core = kubernetes.client.CoreV1Api(kube_api)
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube_api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"},
                                                  "data": {"greeting": "hello"}})  # fmt: skip
    core.create_namespaced_secret(namespace, {"metadata": {"name": "sec"},
                                              "stringData": {"password": "s3cret"}})  # fmt: skip
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    })  # fmt: skip
    rbac.create_namespaced_role(namespace, {
        "metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
    })  # fmt: skip
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "pod-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}],
    })  # fmt: skip
    claim = {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}
    writer = {
        "metadata": {"name": "writer"},
        "spec": {
            "restartPolicy": "Never",
            "volumes": [claim],
            "containers": [{
                "name": "main", "image": IMAGE,
                "command": ["python", "-c", "open('/data/written-by-writer', 'w').write('kept')"],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }],
        },
    }  # fmt: skip
    core.create_namespaced_pod(namespace, writer)
    wait_until(
        lambda: core.read_namespaced_pod("writer", namespace).status.phase == "Succeeded",
        what="the writer pod",
    )
    reader = {
        "metadata": {"name": "reader"},
        "spec": {
            "restartPolicy": "Never",
            "volumes": [claim, {"name": "cfg", "configMap": {"name": "cfg"}},
                        {"name": "sec", "secret": {"secretName": "sec"}}],
            "containers": [{
                "name": "main", "image": IMAGE, "command": ["python", "-c", READER],
                "env": [{"name": "NAMESPACE",
                         "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True},
                                 {"name": "cfg", "mountPath": "/etc/cfg"},
                                 {"name": "sec", "mountPath": "/etc/sec"}],
            }],
        },
    }  # fmt: skip
    core.create_namespaced_pod(namespace, reader)
    pod = wait_until(
        lambda: (
            (p := core.read_namespaced_pod("reader", namespace)).status.phase
            in ("Succeeded", "Failed")
            and p
        ),
        what="the reader pod",
    )
    terminated = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Succeeded", terminated
    assert json.loads(terminated.message) == {
        "claim": "kept", "config": "hello", "secret": "s3cret", "namespace": namespace,
        "has_token": True, "pods": ["reader", "writer"],
    }  # fmt: skip


def waiting_or_failed(pod: Any) -> tuple[str, str] | None:
    """(reason, message) once the node has said why the pod does not run."""
    if pod.status.phase == "Failed" and pod.status.reason:
        return pod.status.reason, pod.status.message
    for status in pod.status.container_statuses or []:
        state = status.state
        if state.waiting and state.waiting.reason not in (None, "ContainerCreating"):
            return state.waiting.reason, state.waiting.message or ""
        if state.terminated and state.terminated.reason == "StartError":
            return state.terminated.reason, state.terminated.message
    return None


@pytest.mark.parametrize(
    ("container", "volumes", "reason", "words"),
    [
        ({"command": ["python", "-c", "raise SystemExit(3)"], "_restart": "Always"}, [],
         "CrashLoopBackOff", "back-off"),
        ({"image": "nginx:1.25", "command": ["nginx"]}, [], "ErrImageNotRunnable", "nginx:1.25"),
        ({"command": ["no-such-command"]}, [], "StartError", "no-such-command"),
        ({"command": ["python"], "envFrom": [{"configMapRef": {"name": "absent"}}]}, [],
         "CreateContainerConfigError", 'configmap "absent" not found'),
        ({"command": ["python"]}, [{"name": "v", "nfs": {"server": "x", "path": "/"}}],
         "UnsupportedVolume", "nfs"),
        ({"args": ["-c", "pass"]}, [], "NoCommand", "set `command`"),
    ],
    ids=["exits-at-once", "foreign-image", "missing-command", "missing-configmap", "nfs-volume",
         "no-command"],
)  # fmt: skip
def test_bad_input_ends_as_readable_pod_status(
    kube_api: kubernetes.client.ApiClient, namespace: str, wait_until: Wait,
    container: dict[str, Any], volumes: list[Any], reason: str, words: str,
) -> None:  # fmt: skip
    core = kubernetes.client.CoreV1Api(kube_api)
    restart = container.pop("_restart", "Never")
    spec = {"name": "main", "image": IMAGE, **container}
    pod = {
        "metadata": {"name": "bad"},
        "spec": {"restartPolicy": restart, "containers": [spec], "volumes": volumes},
    }
    core.create_namespaced_pod(namespace, pod)
    said = wait_until(
        lambda: waiting_or_failed(core.read_namespaced_pod("bad", namespace)),
        what="the pod's status to say why it does not run",
    )
    assert said[0] == reason
    assert words in said[1]


def test_dev_logs_says_when_a_pod_has_no_logs(dev_cluster: DevCluster) -> None:
    from modelship.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["dev", "--dev-dir", str(dev_cluster.dev_dir), "logs", "nothing-here"])
    assert code == 1


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
    kube_api: kubernetes.client.ApiClient, namespace: str, wait_until: Wait,
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
    status = wait_until(
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
    wait_until(lambda: current_log() == "up\n", what="the restarted container to be up")
    core.delete_namespaced_pod("flaky", namespace)
    wait_until(
        lambda: not core.list_namespaced_pod(namespace, field_selector="metadata.name=flaky").items,
        timeout=15,
        what="the pod to be gone well before its 20s grace period",
    )
    assert current_log().splitlines() == ["up", "got SIGTERM"]


def test_init_containers_run_first_and_share_the_pods_empty_dir(
    kube_api: kubernetes.client.ApiClient, namespace: str, wait_until: Wait
) -> None:
    core = kubernetes.client.CoreV1Api(kube_api)
    mount = [{"name": "work", "mountPath": "/work"}]
    pod = {
        "metadata": {"name": "staged"},
        "spec": {
            "restartPolicy": "Never",
            "volumes": [{"name": "work", "emptyDir": {}}],
            "initContainers": [{
                "name": "fetch", "image": IMAGE, "volumeMounts": mount,
                "command": ["python", "-c", "open('/work/input', 'w').write('fetched')"],
            }],
            "containers": [{
                "name": "main", "image": IMAGE, "volumeMounts": mount,
                "command": ["python", "-c",
                            "open('/dev/termination-log', 'w').write(open('/work/input').read())"],
            }],
        },
    }  # fmt: skip
    core.create_namespaced_pod(namespace, pod)
    done = wait_until(
        lambda: (
            (p := core.read_namespaced_pod("staged", namespace)).status.phase
            in ("Succeeded", "Failed")
            and p
        ),
        what="the pod to finish",
    )
    assert done.status.phase == "Succeeded"
    assert done.status.init_container_statuses[0].state.terminated.reason == "Completed"
    assert done.status.container_statuses[0].state.terminated.message == "fetched"


def test_a_pod_past_its_active_deadline_is_stopped_and_failed(
    kube_api: kubernetes.client.ApiClient, namespace: str, wait_until: Wait
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
    status = wait_until(
        lambda: (s := core.read_namespaced_pod("slow", namespace).status).phase == "Failed" and s,
        timeout=30,
        what="the pod to fail",
    )
    assert status.reason == "DeadlineExceeded"
    assert status.container_statuses[0].state.terminated.exit_code == 143  # SIGTERM
