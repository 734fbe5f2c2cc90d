"""The HorizontalPodAutoscaler that scales production when autoscaling.mode is hpa.

It scales the production apps/v1 Deployment on the same figure the operator's own autoscaler
reads: the pods' in-flight gauge, as a `Pods` metric averaged over the pods, with the target
per pod = targetConcurrency. The HPA controller gets that metric only through a custom-metrics
adapter (e.g. prometheus-adapter exposing `modelship_inference_in_flight_requests` per pod);
without one it reports the metric as unavailable and leaves the replica count alone.

Its behavior mirrors the operator's windows: scale up at once, scale down only after the load
has been lower for the stable window. The panic window has no HPA counterpart.
"""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1.autoscaling import Autoscaling
from modelship.contracts.serving_metrics import IN_FLIGHT_REQUESTS
from modelship.operator.deployment.builders.stages import stage_name
from modelship.operator.kube.naming import base_labels, owner_reference

Obj = dict[str, Any]
HPA_API_VERSION = "autoscaling/v2"


def quantity(value: float) -> str:
    """A Kubernetes quantity for `value`: whole numbers as they are, else in thousandths."""
    if float(value).is_integer():
        return str(int(value))
    return f"{round(value * 1000)}m"


def build_hpa(
    mdep_body: Obj,
    autoscaling: Autoscaling,
    stable_window_seconds: float,
) -> Obj:
    """The HPA of production."""
    meta = mdep_body["metadata"]
    target = stage_name(meta["name"], "production")
    return {
        "apiVersion": HPA_API_VERSION,
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": target,
            "namespace": meta["namespace"],
            "labels": base_labels(mdep_body["spec"]["modelRef"]["name"], "serving"),
            "ownerReferences": [owner_reference(mdep_body, "Deployment")],
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": IN_FLIGHT_REQUESTS},
                        "target": {
                            "type": "AverageValue",
                            "averageValue": quantity(autoscaling.target_concurrency),
                        },
                    },
                }
            ],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0},
                "scaleDown": {"stabilizationWindowSeconds": round(stable_window_seconds)},
            },
        },
    }
