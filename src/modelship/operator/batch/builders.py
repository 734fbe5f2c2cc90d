"""Pure builders of a run's three Jobs: plan, scoring (an Indexed Job), assemble.

All run `python -m modelship.batch` on the pod skeleton every operator pod shares, with the
`BatchEnv` contract as environment and the catalog mounted as the namespace reaches it. The
scoring Job is Indexed: Kubernetes gives each pod its shard (`JOB_COMPLETION_INDEX`), runs
`parallelism` at a time, retries a shard `retriesPerShard` times on its own
(`backoffLimitPerIndex`) and never retries a pod that exited 2 (bad input: `FailIndex`).
Job names carry the attempt, so a resume after missing parts makes a new Job, never patches one.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from modelship.api.v1alpha1 import BatchPredictionSpec, ResolvedVersion
from modelship.catalog.predictions import PREDICTIONS_DIR
from modelship.contracts.batch import EXIT_BAD_INPUT, BatchEnv, BatchStep
from modelship.operator.kube.naming import base_labels, child_name, owner_reference
from modelship.operator.kube.pods import container, pod_spec, pod_storage
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
COMPONENT = "batch"
LABEL_BATCH = "modelship.io/batchprediction"
LABEL_STEP = "modelship.io/batch-step"
DEFAULT_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}
# Retries of the plan and assemble pods (a transient read or write failure).
STEP_RETRIES = 2


def job_name(batch: str, step: BatchStep, attempt: int = 1) -> str:
    suffix = {"plan": "plan", "shard": f"score-{attempt}", "assemble": f"assemble-{attempt}"}
    return child_name(batch, suffix[step])


def output_dir(
    spec: BatchPredictionSpec, namespace: str, name: str, settings: OperatorSettings
) -> str | None:
    """The run's directory: spec.output.uri, else the catalog volume's predictions directory;
    None with a registry catalog and no output URI: the output goes to the registry, beside
    the version it came from."""
    if spec.output.uri is not None:
        return unquote(urlparse(spec.output.uri).path)
    if settings.catalog_uri:
        return None
    root = PurePosixPath(settings.catalog_mount_path)
    return str(root / namespace / spec.model / PREDICTIONS_DIR / name)


def batch_env(
    body: Obj, spec: BatchPredictionSpec, resolved: ResolvedVersion, step: BatchStep,
    directory: str | None, catalog_root: str,
) -> BatchEnv:  # fmt: skip
    meta = body["metadata"]
    return BatchEnv(
        step=step,
        name=meta["name"],
        namespace=meta["namespace"],
        model_name=spec.model,
        version=resolved.version,
        digest=resolved.digest,
        artifact=resolved.artifact,
        approved=resolved.approved,
        catalog_root=catalog_root,
        input_uri=spec.input.uri,
        id_column=spec.input.id_column,
        passthrough=list(spec.input.passthrough),
        # The planner checks the user's pin; later steps hold the input to what it read.
        input_digest=spec.input.digest if step == "plan" else resolved.input_digest,
        output_dir=directory,
        format=spec.output.format,
        include=list(spec.output.include),
        rows_per_shard=spec.sharding.rows_per_shard,
        shards=resolved.shards or 0,
        max_failed_rows=spec.max_failed_rows,
    )


def build_job(
    body: Obj, spec: BatchPredictionSpec, resolved: ResolvedVersion, step: BatchStep,
    attempt: int, directory: str | None, settings: OperatorSettings,
) -> Obj:  # fmt: skip
    """The Job of one step; for `shard` an Indexed Job over every shard of the run."""
    meta = body["metadata"]
    labels = {**base_labels(spec.model, COMPONENT), LABEL_BATCH: meta["name"], LABEL_STEP: step}
    storage = pod_storage(settings, catalog="write", scratch="1Gi")
    env = batch_env(body, spec, resolved, step, directory, storage.catalog_root)
    resources = spec.resources.to_wire() if spec.resources is not None else DEFAULT_RESOURCES
    worker = container(
        "batch", "modelship.batch", settings, env=env.to_env(), resources=resources,
        storage=storage, reports=True,
    )  # fmt: skip
    template = {
        "metadata": {"labels": labels},
        "spec": pod_spec([worker], storage=storage, restart_policy="Never"),
    }
    job_spec: Obj = {"activeDeadlineSeconds": spec.timeout_seconds, "template": template}
    if step == "shard":
        job_spec.update(
            completionMode="Indexed",
            completions=resolved.shards or 1,
            parallelism=spec.sharding.parallelism,
            backoffLimitPerIndex=spec.sharding.retries_per_shard,
            podFailurePolicy={
                "rules": [
                    {
                        "action": "FailIndex",
                        "onExitCodes": {
                            "containerName": "batch",
                            "operator": "In",
                            "values": [EXIT_BAD_INPUT],
                        },
                    }
                ]
            },
        )
    else:
        job_spec.update(
            backoffLimit=STEP_RETRIES,
            podFailurePolicy={
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": "batch",
                            "operator": "In",
                            "values": [EXIT_BAD_INPUT],
                        },
                    }
                ]
            },
        )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(meta["name"], step, attempt),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner_reference(body, "BatchPrediction")],
        },
        "spec": job_spec,
    }
