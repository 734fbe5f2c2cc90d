"""Pure builder of the acceptance Job, which checks a version on the test stage's pods.

It runs in the model's namespace (the operator reads no model data) with the same catalog
access, labels and pod security as the stage it checks, and reports as it exits.
"""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import AcceptanceSpec, Task
from modelship.contracts.acceptance import AcceptanceEnv, AcceptancePlan
from modelship.contracts.training import TERMINATION_MESSAGE_PATH
from modelship.operator.deployment.builders.stages import serving_storage, stage_labels
from modelship.operator.kube.naming import child_name, owner_reference
from modelship.operator.kube.pods import container, pod_spec
from modelship.operator.settings import OperatorSettings

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
    storage = serving_storage(settings)
    plan = AcceptancePlan(
        model=model,
        namespace=meta["namespace"],
        version=version,
        digest=digest,
        task=task,
        targets=targets,
        acceptance=acceptance,
        catalog_root=storage.catalog_root,
        artifact=artifact,
    )
    env = AcceptanceEnv(plan=plan, termination_message_path=TERMINATION_MESSAGE_PATH)
    checker = container(
        "acceptance",
        "modelship.acceptance",
        settings,
        env=env.to_env(),
        storage=storage,
        resources={
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        reports=True,
    )
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
                "spec": pod_spec([checker], storage=storage, restart_policy="Never"),
            },
        },
    }
