"""A pod's status computed from its containers, following the kubelet's rules.

Pure: phase from the containers' states and the restart policy, the four standard conditions
with stable transition times, and the container status lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

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
