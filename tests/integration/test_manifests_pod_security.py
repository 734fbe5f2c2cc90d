"""Every pod the project creates meets the Kubernetes "restricted" Pod Security Standard.

Checked twice: by the standard's restricted profile (which includes baseline) written out here
over the rendered specs (the operator's own Deployment from manifests/, and the trainer,
inference and acceptance pods from the operator's builders), and by the API server's own Pod
Security admission, which must admit each of those pods into a namespace that enforces
`restricted` and refuse one that breaks it. (Every live test's namespace enforces it too, so every
pod the operator creates in the suite passes the same admission.)
"""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from modelship.api.v1alpha1 import AcceptanceSpec, ModelSpec, TrainingSnapshot
from modelship.operator.deployment.builders.acceptance import build_acceptance_job
from modelship.operator.deployment.builders.stages import build_stage_deployment
from modelship.operator.model.builders import build_training_job
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.builders import build_training_pod_job
from support.factories import iris_deployment, iris_model
from support.kubectl import render

DIGEST = "sha256:" + "ab" * 32

# https://kubernetes.io/docs/concepts/security/pod-security-standards/ (restricted)
ALLOWED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
}  # fmt: skip


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What keeps a pod spec from the restricted profile; empty when it complies."""
    found: list[str] = []
    pod_sc = pod.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            found.append(f"{field} is set")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            found.append(f"volume {volume['name']} is {sorted(kinds)}")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl['name']}")
    if pod_sc.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    containers = [
        *pod.get("initContainers", []),
        *pod.get("containers", []),
        *pod.get("ephemeralContainers", []),
    ]
    for c in containers:
        sc, name = c.get("securityContext") or {}, c["name"]
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile is {seccomp}")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            found.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {caps['add']}")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount {sc['procMount']}")
        if any(p.get("hostPort") for p in c.get("ports") or []):
            found.append(f"{name}: hostPort")
    return found


def operator_pod() -> dict[str, Any]:
    (deployment,) = [d for d in render("default") if d["kind"] == "Deployment"]
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def trainer_pod() -> dict[str, Any]:
    model = iris_model(metadata={"namespace": "ml", "uid": "u-1", "generation": 1})
    tj = build_training_job(model, ModelSpec.model_validate(model["spec"]), "spec-change", "", "1")
    tj["metadata"]["uid"] = "tj-1"
    snapshot = TrainingSnapshot.model_validate(tj["spec"]["snapshot"])
    job = build_training_pod_job(tj, snapshot, 1, OperatorSettings())
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


MDEP = iris_deployment(metadata={"namespace": "ml", "uid": "d-1", "generation": 1})


def serving_pod(stage: str) -> dict[str, Any]:
    body = build_stage_deployment(MDEP, stage, 1, DIGEST, 2, None, OperatorSettings())
    spec: dict[str, Any] = body["spec"]["template"]["spec"]
    return spec


def acceptance_pod() -> dict[str, Any]:
    job = build_acceptance_job(
        MDEP, 1, DIGEST, ["http://10.0.0.1:8080"], AcceptanceSpec(), "classification",
        OperatorSettings(),
    )  # fmt: skip
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


PODS = [
    pytest.param(operator_pod, id="operator"),
    pytest.param(trainer_pod, id="trainer"),
    pytest.param(lambda: serving_pod("test"), id="serving-test"),
    pytest.param(lambda: serving_pod("production"), id="serving-production"),
    pytest.param(acceptance_pod, id="acceptance"),
]


@pytest.mark.parametrize("pod", PODS)
def test_pod_meets_the_restricted_pod_security_standard(pod: Any) -> None:
    assert restricted_violations(pod()) == []


def admit(kube_api: kubernetes.client.ApiClient, namespace: str, spec: dict[str, Any]) -> None:
    """A server-side dry run of the pod: every admission plugin judges it, nothing is stored.
    (Under the namespace's `default` ServiceAccount: the operator's own is not in this one.)"""
    spec = {key: value for key, value in spec.items() if key != "serviceAccountName"}
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "psa-check"}, "spec": spec}
    kubernetes.client.CoreV1Api(kube_api).create_namespaced_pod(namespace, body, dry_run="All")


@pytest.mark.parametrize("pod", PODS)
def test_pod_security_admission_admits_the_pod_under_restricted(
    kube_api: kubernetes.client.ApiClient, namespace: str, pod: Any
) -> None:
    admit(kube_api, namespace, pod())


def test_pod_security_admission_refuses_a_pod_that_breaks_restricted(
    kube_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    pod = operator_pod()
    pod["hostNetwork"] = True
    pod["volumes"] = [*pod.get("volumes", []), {"name": "host", "hostPath": {"path": "/"}}]
    with pytest.raises(kubernetes.client.ApiException) as refused:
        admit(kube_api, namespace, pod)
    assert refused.value.status == 403
    body = str(refused.value.body)
    assert 'violates PodSecurity \\"restricted:latest\\"' in body, body
    assert "host namespaces (hostNetwork=true)" in body and "restricted volume types" in body, body


def test_the_check_finds_what_the_standard_forbids() -> None:
    """A privileged, root, hostPath pod fails, so the passes above are not vacuous."""
    pod = operator_pod()
    pod["hostNetwork"] = True
    pod["volumes"] = [{"name": "host", "hostPath": {"path": "/"}}]
    container = pod["containers"][0]
    container["securityContext"] = {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}
    pod["securityContext"] = {"runAsUser": 0}
    found = restricted_violations(pod)
    assert "hostNetwork is set" in found
    assert "volume host is ['hostPath']" in found
    assert "operator: privileged" in found
    assert "operator: runAsNonRoot is not true" in found
    assert "operator: seccompProfile is None" in found
    assert "operator: adds capabilities ['SYS_ADMIN']" in found
    assert "pod runAsUser 0" in found
