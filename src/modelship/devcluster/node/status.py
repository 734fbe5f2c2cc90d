"""A pod's status computed from its containers, following the kubelet's rules.

Pure: phase from the containers' states and the restart policy, the four standard conditions
with stable transition times, and the container status lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from modelship.devcluster.node.spec import PermanentPodError

JSON = dict[str, Any]
CONDITION_TYPES = ("PodScheduled", "Initialized", "ContainersReady", "Ready")


class ContainerView(Protocol):
    name: str
    ready: bool
    restart_count: int
    will_restart: bool
    state: JSON
    last_state: JSON

    @property
    def exit_code(self) -> int | None: ...

    def status(self) -> JSON: ...


def phase(containers: Sequence[ContainerView], initialized: bool, init_failed: bool) -> str:
    """Pending until something ran; Running while any runs or will run again; then final."""
    if init_failed:
        return "Failed"
    if not initialized:
        return "Pending"
    if any("running" in c.state for c in containers):
        return "Running"
    if containers and all(c.exit_code is not None and not c.will_restart for c in containers):
        return "Succeeded" if all(c.exit_code == 0 for c in containers) else "Failed"
    if any(c.restart_count > 0 or c.last_state or "terminated" in c.state for c in containers):
        return "Running"
    return "Pending"


def conditions(
    previous: Sequence[Mapping[str, Any]],
    initialized: bool,
    containers_ready: bool,
    now: str,
    not_ready_reason: str = "ContainersNotReady",
) -> list[JSON]:
    """The standard conditions; lastTransitionTime changes only when the status does."""
    old = {c.get("type"): c for c in previous}
    wanted = {
        "PodScheduled": (True, None),
        "Initialized": (initialized, None if initialized else "ContainersNotInitialized"),
        "ContainersReady": (containers_ready, None if containers_ready else not_ready_reason),
        "Ready": (containers_ready, None if containers_ready else not_ready_reason),
    }
    result = []
    for kind in CONDITION_TYPES:
        ok, reason = wanted[kind]
        status = "True" if ok else "False"
        before = old.get(kind, {})
        changed = before.get("status") != status
        condition: JSON = {
            "type": kind,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": now if changed else before.get("lastTransitionTime", now),
        }
        if reason:
            condition["reason"] = reason
        result.append(condition)
    return result


def not_ready_names(containers: Sequence[ContainerView]) -> list[str]:
    return [c.name for c in containers if not c.ready]


@dataclass
class PodProgress:
    """What the pod's runner learned that its containers' states do not show."""

    initialized: bool
    init_failed: bool = False
    rejection: PermanentPodError | None = None  # why the pod cannot run here
    deadline_exceeded: bool = False


def pod_status(
    pod: JSON, progress: PodProgress, containers: Sequence[ContainerView],
    init_containers: Sequence[ContainerView], addresses: tuple[str, str], start_time: str,
    now: str,
) -> JSON:  # fmt: skip
    """The pod's whole status; `addresses` is (host IP, pod IP)."""
    rejected = progress.rejection
    policy = pod["spec"].get("restartPolicy", "Always")
    if progress.deadline_exceeded:
        rejected = PermanentPodError(
            "DeadlineExceeded",
            f"Pod was active on the node longer than the specified deadline "
            f"({pod['spec']['activeDeadlineSeconds']}s)",
        )
        pod_phase = "Failed"
    elif rejected is not None and policy != "Always":
        pod_phase = "Failed"
    else:
        pod_phase = phase(containers, progress.initialized, progress.init_failed)
    ready = pod_phase == "Running" and not not_ready_names(containers)
    reason = "PodCompleted" if pod_phase in ("Succeeded", "Failed") else "ContainersNotReady"
    previous = pod.get("status", {}).get("conditions") or []
    host_ip, pod_ip = addresses
    status: JSON = {
        "phase": pod_phase,
        "conditions": conditions(previous, progress.initialized, ready, now, reason),
        "hostIP": host_ip,
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": pod.get("status", {}).get("startTime") or start_time,
        "containerStatuses": [c.status() for c in containers],
        "reason": rejected.reason if rejected and pod_phase == "Failed" else None,
        "message": rejected.message if rejected and pod_phase == "Failed" else None,
    }
    if init_containers:
        status["initContainerStatuses"] = [c.status() for c in init_containers]
    return status
