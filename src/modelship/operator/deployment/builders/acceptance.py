"""Pure builder of the acceptance Job, which checks a version on the test stage's pods.

It runs in the model's namespace (the operator reads no model data) with the same catalog
access, labels and pod security as the stage it checks, and reports as it exits.
"""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import AcceptanceSpec, Task
from modelship.contracts.acceptance import AcceptanceEnv, AcceptancePlan
from modelship.operator.deployment.builders.stages import (
    catalog_volumes,
    pod_security,
    stage_labels,
)
from modelship.operator.kube.naming import child_name, owner_reference
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.builders import (
    RESTRICTED_CONTAINER_SECURITY,
    TERMINATION_MESSAGE_PATH,
)

Obj = dict[str, Any]


def acceptance_job_name(deployment: str, version: int, digest: str) -> str:
    return child_name(deployment, f"accept-v{version}-{digest.removeprefix('sha256:')[:8]}")


def build_acceptance_job(
    mdep_body: Obj,
    version: int,
    digest: str,
    targets: list[str],
    acceptance: AcceptanceSpec,
    task: Task,
    settings: OperatorSettings,
    *,
    artifact: str | None = None,
) -> Obj:
    """A Job that checks the test endpoints from inside the namespace and reports as it exits."""
    meta = mdep_body["metadata"]
    model = mdep_body["spec"]["modelRef"]["name"]
    labels = stage_labels(mdep_body, "test", version, component="acceptance")
    volumes, mounts, catalog = catalog_volumes(settings)
    plan = AcceptancePlan(
        model=model,
        namespace=meta["namespace"],
        version=version,
        digest=digest,
        task=task,
        targets=targets,
        acceptance=acceptance,
        catalog_root=catalog.root,
        artifact=artifact,
    )
    env = AcceptanceEnv(plan=plan, termination_message_path=TERMINATION_MESSAGE_PATH)
    container = {
        "name": "acceptance",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["python", "-m", "modelship.acceptance"],
        "env": [*env.to_env(), *catalog.env, {"name": "HOME", "value": "/tmp"}],
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": RESTRICTED_CONTAINER_SECURITY,
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": acceptance_job_name(meta["name"], version, digest),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(mdep_body, "Deployment")],
        },
        "spec": {
            "backoffLimit": 1,
            "activeDeadlineSeconds": settings.acceptance_timeout_seconds,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
