"""Pure builders of the test and production stages (the acceptance Job: acceptance_builders).

Both stages run the same inference server from the project's image with the catalog mounted
read-only; they differ in name, replicas, rollout strategy and the `modelship.io/stage` label.
The selector names the Deployment and the stage only, never the version, because a Deployment's
selector is immutable while its version changes with every rollout.
"""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import MonitoringSpec, ResourceRequirements
from modelship.contracts.serving import ServingEnv, Stage
from modelship.operator.deployment.builders.monitoring import (
    feedback_env,
    monitoring_fields,
    writable_capture_store,
)
from modelship.operator.deployment.builders.probes import http_probes
from modelship.operator.kube.catalog_access import uses_volume
from modelship.operator.kube.naming import (
    LABEL_SERVES,
    LABEL_STAGE,
    LABEL_VERSION,
    base_labels,
    child_name,
    owner_reference,
)
from modelship.operator.kube.pods import PodStorage, container, pod_spec, pod_storage
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
LABEL_DEPLOYMENT = "modelship.io/deployment"
SERVING_PORT = 8080
SERVICE_HTTP_PORT = 80  # a stage Service's HTTP port (its target is the pods' SERVING_PORT)
GRPC_PORT = 8081  # the Open Inference Protocol's gRPC service
# Zero-drop shutdown (see modelship.serving.server): the kubelet runs preStop while the endpoints
# controller removes the terminating pod from its Services; only then SIGTERM turns readiness to
# 503, drains for ~2 s and waits up to 20 s for in-flight requests. 5 + 2 + 20 < 30 s of grace.
# `sleep` is coreutils in the python:*-slim base image; an exec hook needs no port or HTTP route.
PRESTOP_SLEEP_SECONDS = 5
TERMINATION_GRACE_SECONDS = 30
DEFAULT_SERVING_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}


def stage_name(deployment: str, stage: str) -> str:
    return deployment if stage == "production" else child_name(deployment, "test")


def stage_selector(deployment: str, stage: str) -> dict[str, str]:
    return {LABEL_DEPLOYMENT: deployment, LABEL_STAGE: stage}


def service_selector(selector: dict[str, str]) -> dict[str, str | None]:
    """A production Service's selector naming both labels it ever selects on, null where unused.

    The Service is written by JSON merge patch, which keeps map keys it does not mention: moving
    between the stable selector (stage) and the replica-ratio one (serves, no stage) must remove
    the other key, and a null in a merge patch is what removes it. Creation drops the nulls.
    """
    return {LABEL_STAGE: None, LABEL_SERVES: None, **selector}


def stage_labels(
    mdep_body: Obj, stage: str, version: int, component: str = "serving"
) -> dict[str, str]:
    labels = base_labels(mdep_body["spec"]["modelRef"]["name"], component)
    labels.update(stage_selector(mdep_body["metadata"]["name"], stage))
    labels[LABEL_VERSION] = str(version)
    return labels


def serving_storage(settings: OperatorSettings) -> PodStorage:
    """The catalog, read-only, and /tmp: from a registry the version is pulled into /tmp, so it
    needs the room. The acceptance Job reads the catalog the same way."""
    return pod_storage(
        settings, catalog="read", scratch="256Mi" if uses_volume(settings) else "2Gi"
    )


def build_stage_deployment(
    mdep_body: Obj,
    stage: Stage,
    version: int,
    digest: str,
    replicas: int,
    resources: ResourceRequirements | None,
    settings: OperatorSettings,
    *,
    artifact: str | None = None,
    monitoring: MonitoringSpec | None = None,
) -> Obj:
    """The apps/v1 Deployment of one stage, serving exactly `version` with `digest` (read from
    `artifact`, the manifest pinned by digest, when the catalog is a registry); `monitoring`
    (the Model's) sets the id input, capture and the feedback token's Secret."""
    meta = mdep_body["metadata"]
    model = mdep_body["spec"]["modelRef"]["name"]
    labels = stage_labels(mdep_body, stage, version)
    if stage == "production":
        labels[LABEL_SERVES] = "production"  # the canary, built from this, carries it too
    storage = serving_storage(settings)
    capture, storage = writable_capture_store(
        monitoring_fields(monitoring), storage, settings, meta["namespace"], model
    )
    serving = ServingEnv(
        model_name=model,
        namespace=meta["namespace"],
        version=version,
        expected_digest=digest,
        catalog_root=storage.catalog_root,
        artifact=artifact,
        stage=stage,
        port=SERVING_PORT,
        grpc_port=GRPC_PORT,
        trusted_types=list(settings.allowed_artifact_types) or None,
        **capture,
    )
    server = container(
        "server",
        "modelship.serving",
        settings,
        env=[*serving.to_env(), *feedback_env(monitoring)],
        storage=storage,
        runtime_env=[_workers_from_cpu_limit()],
        resources=resources.to_wire() if resources is not None else DEFAULT_SERVING_RESOURCES,
        ports=[
            {"name": "http", "containerPort": SERVING_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
        ],
        **http_probes("http", "/v2/health/ready", "/v2/health/live"),
        lifecycle={"preStop": {"exec": {"command": ["sleep", str(PRESTOP_SLEEP_SECONDS)]}}},
    )
    spec: Obj = {
        "replicas": replicas,
        "selector": {"matchLabels": stage_selector(meta["name"], stage)},
        "revisionHistoryLimit": 3,
        "progressDeadlineSeconds": settings.rollout_deadline_seconds,
        "template": {
            "metadata": {"labels": labels},
            "spec": pod_spec(
                [server],
                storage=storage,
                service_account=settings.serving_service_account,
                terminationGracePeriodSeconds=TERMINATION_GRACE_SECONDS,
            ),
        },
    }
    if stage == "production":
        # Surge new pods before removing old ones: production never drops below its replicas.
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": stage_name(meta["name"], stage),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(mdep_body, "Deployment")],
        },
        "spec": spec,
    }


def _workers_from_cpu_limit() -> Obj:
    """One server process per core of the container's CPU limit, read by the downward API
    (rounded up: a 1500m limit gives 2 workers; no limit gives the node's allocatable cores)."""
    return {
        "name": ServingEnv.env_name("workers"),
        "valueFrom": {
            "resourceFieldRef": {
                "containerName": "server",
                "resource": "limits.cpu",
                "divisor": "1",
            }
        },
    }


def build_stage_service(mdep_body: Obj, stage: str) -> Obj:
    meta = mdep_body["metadata"]
    labels = base_labels(mdep_body["spec"]["modelRef"]["name"], "serving")
    labels.update(stage_selector(meta["name"], stage))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": stage_name(meta["name"], stage),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(mdep_body, "Deployment")],
        },
        "spec": {
            "selector": service_selector(stage_selector(meta["name"], stage))
            if stage == "production"
            else stage_selector(meta["name"], stage),
            "ports": [
                {
                    "name": "http",
                    "port": SERVICE_HTTP_PORT,
                    "targetPort": "http",
                    "protocol": "TCP",
                },
                {
                    "name": "grpc",
                    "port": GRPC_PORT,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "grpc",
                },
            ],
        },
    }


def build_pdb(mdep_body: Obj) -> Obj:
    """Voluntary disruptions (drains) take at most one production pod at a time."""
    meta = mdep_body["metadata"]
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": base_labels(mdep_body["spec"]["modelRef"]["name"], "serving"),
            "ownerReferences": [owner_reference(mdep_body, "Deployment")],
        },
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": stage_selector(meta["name"], "production")},
        },
    }
