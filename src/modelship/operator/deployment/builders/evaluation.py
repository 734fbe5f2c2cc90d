"""Pure builders of the evaluation Job: which versions it evaluates, and the Job itself.

The Job (`python -m modelship.monitoring`) reads capture and label segments, which are rows; the
operator only gives it the plan and reads back per-version totals (contracts/evaluation.py). It
runs in the Deployment's namespace with the serving pods' catalog access (read-only: a volume
store sits beside the catalog, a registry store uses the catalog's credentials), one at a time
per Deployment, named by the run's number so a finished one is never mistaken for the next.
The Model's label files go in the plan: the Job reads them (a file:// one from the volumes the
pod mounts, the catalog's among them) and stores their labels as label segments.
"""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import DeploymentStatus, LiveEvaluationSpec, MonitoringSpec, Task
from modelship.contracts.evaluation import EvaluationEnv, EvaluationPlan, LabelFile, ServedVersion
from modelship.contracts.training import TERMINATION_MESSAGE_PATH
from modelship.operator.deployment.builders.stages import serving_storage, stage_labels
from modelship.operator.kube.naming import child_name, owner_reference
from modelship.operator.kube.pods import container, pod_spec
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
COMPONENT = "evaluation"
# The join holds ~1 KiB per kept row (monitoring/evaluation.py): 2 GiB is about a million
# captures and a million labels in the window.
MEMORY_LIMIT = "2Gi"
DEADLINE_SECONDS = 1800


def evaluation_job_name(deployment: str, run: int) -> str:
    return child_name(deployment, f"eval-{run}")


def served_versions(status: DeploymentStatus) -> list[ServedVersion]:
    """Production (once promoted), the canary and the shadow, as the status records them (each
    version once)."""
    found: list[ServedVersion] = []
    production, canary, test = status.production, status.canary, status.test
    if (
        production is not None
        and production.version
        and production.digest
        and production.promoted_at
    ):
        found.append(ServedVersion(version=production.version, digest=production.digest,
                                   role="production"))  # fmt: skip
    if canary is not None and canary.state in ("Progressing", "Waiting"):
        found.append(ServedVersion(version=canary.version, digest=canary.digest, role="canary"))
    if test is not None and test.shadow is not None and test.version and test.digest:
        found.append(ServedVersion(version=test.version, digest=test.digest, role="shadow"))
    unique: dict[int, ServedVersion] = {}
    for served in found:
        unique.setdefault(served.version, served)
    return list(unique.values())


def label_files(monitoring: MonitoringSpec | None) -> list[LabelFile]:
    """The Model's label files, as the Job reads them (it stores their labels, once each)."""
    if monitoring is None:
        return []
    return [
        LabelFile(uri=f.uri, id_column=f.id_column, label_column=f.label_column)
        for f in monitoring.labels.files
    ]


def build_evaluation_job(
    mdep_body: Obj,
    run: int,
    versions: list[ServedVersion],
    spec: LiveEvaluationSpec,
    task: Task,
    monitoring: MonitoringSpec | None,
    settings: OperatorSettings,
) -> Obj:
    """The Job evaluating `versions` over the window the spec asks for; reports as it exits."""
    meta = mdep_body["metadata"]
    model = mdep_body["spec"]["modelRef"]["name"]
    storage = serving_storage(settings)
    plan = EvaluationPlan(
        model=model,
        namespace=meta["namespace"],
        task=task,
        metric=spec.metric,
        store=monitoring.capture.store if monitoring is not None else None,
        catalog_root=storage.catalog_root,
        versions=versions,
        window_seconds=spec.window_seconds,
        maturity_seconds=spec.maturity_seconds,
        confidence=spec.confidence,
        label_files=label_files(monitoring),
        sample_rate=monitoring.capture.sample_rate if monitoring is not None else 1.0,
    )
    env = EvaluationEnv(plan=plan, termination_message_path=TERMINATION_MESSAGE_PATH)
    labels = stage_labels(mdep_body, COMPONENT, versions[0].version, component=COMPONENT)
    evaluator = container(
        COMPONENT,
        "modelship.monitoring",
        settings,
        env=env.to_env(),
        storage=storage,
        resources={
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": MEMORY_LIMIT},
        },
        reports=True,
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": evaluation_job_name(meta["name"], run),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(mdep_body, "Deployment")],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": DEADLINE_SECONDS,
            "template": {
                "metadata": {"labels": labels},
                "spec": pod_spec([evaluator], storage=storage, restart_policy="Never"),
            },
        },
    }
