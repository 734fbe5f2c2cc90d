"""file:// datasets: a probe Job in the Model's namespace hashes the file; the operator reads its
termination message.

The operator reads no data and mounts no catalog volume (DESIGN.md), so it cannot look at a file
itself. Each check is one short Job (`python -m modelship.training.probe`) that sees the file as
the trainer does (the catalog claim, read-only, where the catalog is a volume) and reports the
file's digest through `DatasetProbeResult`, as the trainer reports its summary. The builder
(`model.builders`) and the reading of the result are pure; `FileDatasetJobs` does the I/O:
start a Job when a check is due and none runs, read the newest finished one, delete older ones.
"""

from __future__ import annotations

from typing import Any

from modelship.contracts.dataset import DatasetProbeResult
from modelship.operator.kube.client import Kube
from modelship.operator.kube.naming import base_labels
from modelship.operator.kube.resources import JOBS, MODELS, PODS
from modelship.operator.model.builders import COMPONENT, STAMP, URI, build_dataset_probe_job
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
Probe = tuple[str | None, str | None]


def finished(job: Obj) -> bool:
    status = job.get("status") or {}
    return bool(status.get("succeeded") or status.get("failed"))


def probe_result(job: Obj, pods: list[Obj]) -> Probe:
    """(digest, None) or (None, why) from a finished probe Job and its pods."""
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated") or {}
            result = DatasetProbeResult.from_termination_message(terminated.get("message"))
            if result is not None and (result.digest or result.error):
                return result.digest, result.error
    return None, f"the dataset probe Job {job['metadata']['name']} reported nothing"


class FileDatasetJobs:
    """Start, read and prune the probe Jobs of file:// datasets."""

    def __init__(self, kube: Kube, settings: OperatorSettings) -> None:
        self.kube, self.settings = kube, settings

    def check(self, namespace: str, model: str, uri: str, due: bool, stamp: int) -> Probe | None:
        """The newest finished probe's result (None while none finished); a new Job when due."""
        jobs = self.kube.list(JOBS, namespace, base_labels(model, COMPONENT))
        mine = sorted(
            (j for j in jobs if (j["metadata"].get("annotations") or {}).get(URI) == uri),
            key=lambda j: int(j["metadata"]["labels"].get(STAMP, "0")),
        )
        done = [j for j in mine if finished(j)]
        result = None
        if done:
            newest = done[-1]
            name = newest["metadata"]["name"]
            result = probe_result(newest, self.kube.list(PODS, namespace, {"job-name": name}))
        for job in jobs:  # older results, and probes of a dataset the Model no longer uses
            if (job in done and job is not done[-1]) or job not in mine:
                self.kube.delete(JOBS, namespace, job["metadata"]["name"])
        if due and len(done) == len(mine):
            body = self.kube.get(MODELS, namespace, model)
            if body is not None:
                job = build_dataset_probe_job(body, uri, stamp, self.settings)
                self.kube.ensure(JOBS, namespace, job)
        return result
