"""The Node object the local node registers and keeps fresh."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

JSON = dict[str, Any]
# The local node runs pods as processes with no CPU or memory limits, so what it advertises is a
# budget for kube-scheduler (how many pods may be placed), not a reservation: the machine's
# cores and memory times these factors, so a test's dozens of 100m pods fit on two cores.
CPU_OVERCOMMIT = 16
MEMORY_OVERCOMMIT = 4
MAX_PODS = 500


def _memory_ki() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 4 * 1024 * 1024


def node_labels(name: str) -> dict[str, str]:
    return {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "modelship.io/local-node": "true"}  # fmt: skip


def node_object(name: str) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": node_labels(name)},
    }


def node_status(name: str, heartbeat: str, since: str, log_port: int, version: str) -> JSON:
    resources = {
        "cpu": str((os.cpu_count() or 1) * CPU_OVERCOMMIT),
        "memory": f"{_memory_ki() * MEMORY_OVERCOMMIT}Ki",
        "pods": str(MAX_PODS),
        "ephemeral-storage": "100Gi",
    }

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
            "kubeletVersion": f"{version}-modelship-local",
            "kubeProxyVersion": f"{version}-modelship-local",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }
