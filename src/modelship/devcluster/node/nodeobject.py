"""The Node object the local node registers and keeps fresh."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

JSON = dict[str, Any]
KUBELET_VERSION = "v1.20.2-modelship-local"


def _memory_ki() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{line.split()[1]}Ki"
    return "4Gi"


def node_labels(name: str) -> dict[str, str]:
    return {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "modelship.io/local-node": "true"}  # fmt: skip


def node_object(name: str) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": node_labels(name)},
    }


def node_status(name: str, heartbeat: str, since: str, log_port: int) -> JSON:
    resources = {"cpu": str(os.cpu_count() or 1), "memory": _memory_ki(), "pods": "110",
                 "ephemeral-storage": "100Gi"}  # fmt: skip

    def condition(kind: str, status: str, reason: str, message: str) -> JSON:
        return {"type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": heartbeat, "lastTransitionTime": since}  # fmt: skip

    return {
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
            condition("Ready", "True", "KubeletReady", "the modelship local node is ready"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": log_port}},
        "nodeInfo": {
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kernelVersion": platform.release(),
            "osImage": "modelship local node",
            "containerRuntimeVersion": "modelship-local://0.1",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def selector_matches(pod: JSON, labels: dict[str, str]) -> bool:
    """Whether a pod's nodeSelector allows this node (there is no scheduler to ask)."""
    selector = pod["spec"].get("nodeSelector") or {}
    return all(labels.get(key) == value for key, value in selector.items())
