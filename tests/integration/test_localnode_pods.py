"""The local node runs the project's pods as local processes: Jobs, volumes, in-cluster config,
init containers, and what a pod's status says when it cannot run."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from typing import Any

import kubernetes
import pytest

from modelship.devcluster.cluster import DevCluster
from support.kubectl import Kubectl
from support.waiting import wait_for

pytestmark = pytest.mark.integration
IMAGE = "modelship:dev"
# What the restricted Pod Security Standard asks of a pod (the test namespaces enforce it).
RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


@pytest.fixture
def namespace(plain_namespace: str) -> str:
    """These tests are of the local node itself: their pods include what a model namespace
    (which enforces the restricted profile) refuses, such as an nfs volume."""
    return plain_namespace


def finished_pod(core: kubernetes.client.CoreV1Api, namespace: str, name: str, what: str) -> Any:
    """The pod once it has Succeeded or Failed."""
    return wait_for(
        lambda: (
            (p := core.read_namespaced_pod(name, namespace)).status.phase in ("Succeeded", "Failed")
            and p
        ),
        what=what,
    )


def job(name: str, script: str, backoff_limit: int = 0, **container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": RESTRICTED_POD,
                    "containers": [
                        {"name": "main", "image": IMAGE, "command": ["python", "-c", script],
                         "securityContext": RESTRICTED_CONTAINER, **container}
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
    kube_api: kubernetes.client.ApiClient, namespace: str,
    dev_cluster: DevCluster, kubectl: Kubectl, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    batch = kubernetes.client.BatchV1Api(kube_api)
    batch.create_namespaced_job(namespace, job("ok", "print('trained')"))
    outcome = wait_for(lambda: job_condition(batch, namespace, "ok"), what="the Job to finish")
    assert outcome == "Complete"

    core = kubernetes.client.CoreV1Api(kube_api)
    pod = core.list_namespaced_pod(namespace, label_selector="job-name=ok").items[0]
    from modelship.cli import main

    assert main(["dev", "--dev-dir", str(dev_cluster.dev_dir), "logs", pod.metadata.name,
                 "-n", namespace]) == 0  # fmt: skip
    assert capsys.readouterr().out == "trained\n"
    logs = kubectl("logs", "-n", namespace, pod.metadata.name)
    assert logs.stdout == "trained\n"


def test_an_indexed_job_runs_each_completion_index_once(
    kube_api: kubernetes.client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    """Indexed Jobs (what batch scoring shards on): the Job controller gives each pod its index
    (annotation and JOB_COMPLETION_INDEX), and the Job completes once every index succeeded."""
    body = job("shards", "import os; print('shard', os.environ['JOB_COMPLETION_INDEX'])")
    body["spec"].update(completionMode="Indexed", completions=3, parallelism=2)
    batch = kubernetes.client.BatchV1Api(kube_api)
    batch.create_namespaced_job(namespace, body)
    outcome = wait_for(lambda: job_condition(batch, namespace, "shards"), what="the Job to finish")
    assert outcome == "Complete"
    assert batch.read_namespaced_job_status("shards", namespace).status.completed_indexes == "0-2"
    core = kubernetes.client.CoreV1Api(kube_api)
    pods = core.list_namespaced_pod(namespace, label_selector="job-name=shards").items
    printed = sorted(kubectl("logs", "-n", namespace, p.metadata.name).stdout for p in pods)
    assert printed == ["shard 0\n", "shard 1\n", "shard 2\n"]


def test_a_failing_job_is_retried_up_to_its_backoff_limit_and_reports_why(
    kube_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    script = "open('/dev/termination-log', 'w').write('dataset is empty'); raise SystemExit(1)"
    batch = kubernetes.client.BatchV1Api(kube_api)
    batch.create_namespaced_job(namespace, job("bad", script, backoff_limit=1))
    outcome = wait_for(
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
    kube_api: kubernetes.client.ApiClient, namespace: str
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
    wait_for(
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
    pod = finished_pod(core, namespace, "reader", "the reader pod")
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
    kube_api: kubernetes.client.ApiClient, namespace: str,
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
    said = wait_for(
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


def test_init_containers_run_first_and_share_the_pods_empty_dir(
    kube_api: kubernetes.client.ApiClient, namespace: str
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
    done = finished_pod(core, namespace, "staged", "the pod to finish")
    assert done.status.phase == "Succeeded"
    assert done.status.init_container_statuses[0].state.terminated.reason == "Completed"
    assert done.status.container_statuses[0].state.terminated.message == "fetched"
