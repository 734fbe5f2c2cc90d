"""Stand-ins for what the autoscaler reads: production pods and their in-flight gauges."""

from __future__ import annotations

from typing import Any

from modelship.operator.deployment.rollout import PodState


class Gauges:
    """The pods' gauges as a TrafficReader would read them; None: the pod cannot be read."""

    def __init__(self, values: dict[str, float | None]) -> None:
        self.values = values

    def in_flight(self, pods: list[PodState]) -> tuple[float, int, list[str]]:
        read = [self.values[p.name] for p in pods if self.values[p.name] is not None]
        errors = [f"{p.name}: unreadable" for p in pods if self.values[p.name] is None]
        return sum(v for v in read if v is not None), len(read), errors


def production_pod(name: str, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ml",
            "labels": {"modelship.io/deployment": "iris", "modelship.io/stage": "production",
                       "modelship.io/version": "1"},
        },
        "status": {
            "podIP": "127.1.0.9",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }  # fmt: skip
