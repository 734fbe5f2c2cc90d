"""The demo's first half: the samples applied, and training followed to the first version."""

from __future__ import annotations

from pathlib import Path

import yaml

from modelship.api.v1alpha1 import ModelStatus, TrainingJobStatus, VersionSummary
from modelship.demo.narrator import DemoError, Narrator
from modelship.operator.kube.client import Kube, KubeError
from modelship.operator.kube.resources import (
    MODEL_DEPLOYMENTS,
    MODELS,
    NAMESPACES,
    TRAINING_JOBS,
    Resource,
)

NAMESPACE = "modelship-demo"
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
# A model namespace as it should be: the API server checks every pod the operator creates in it
# against the restricted Pod Security Standard.
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}


def apply_samples(root: Path, kube: Kube, say: Narrator) -> None:
    say.step(f"Apply the sample Model and Deployment in namespace {NAMESPACE}")
    try:
        kube.create(NAMESPACES, None, {"metadata": {"name": NAMESPACE, "labels": RESTRICTED}})
    except KubeError as exc:
        if exc.status != 409:
            raise
    say.say("the namespace enforces the restricted Pod Security Standard on every pod")
    say.wait(
        "the namespace's ServiceAccount and CA ConfigMap",
        lambda: (
            kube.get(SERVICE_ACCOUNTS, NAMESPACE, "default")
            and kube.get(CONFIG_MAPS, NAMESPACE, "kube-root-ca.crt")
        ),
        30,
    )
    for sample in ("model-iris.yaml", "deployment-iris.yaml"):
        body = yaml.safe_load((root / "manifests" / "samples" / sample).read_text())
        res = MODELS if body["kind"] == "Model" else MODEL_DEPLOYMENTS
        if kube.get(res, NAMESPACE, body["metadata"]["name"]) is None:
            kube.create(res, NAMESPACE, body)
        say.say(f"applied {body['kind']} {body['metadata']['name']} (manifests/samples/{sample})")


def _narrate_training(kube: Kube, say: Narrator) -> None:
    for tj in kube.list(TRAINING_JOBS, NAMESPACE):
        name = tj["metadata"]["name"]
        st = TrainingJobStatus.model_validate(tj.get("status") or {})
        say.once(f"tj-{name}", f"TrainingJob {name} created (trigger {tj['spec']['trigger']})")
        if st.job_name:
            say.once(f"job-{name}", f"Job {st.job_name} runs the trainer (attempt {st.attempts})")
        if st.phase == "Succeeded":
            metrics = ", ".join(f"{k}={v:.3f}" for k, v in list(st.metrics.items())[:4])
            digest = st.artifact.digest if st.artifact else ""
            say.once(
                f"ok-{name}",
                f"TrainingJob {name} succeeded: version {st.version} {digest[:19]}… {metrics}",
            )
            for gate in st.gates:
                say.once(
                    f"gate-{name}-{gate.metric}",
                    f"  gate {gate.metric} {gate.value or 0:.3f} {gate.bound}: "
                    f"{'passed' if gate.passed else 'FAILED'}",
                )
        if st.phase == "Failed":
            failure = st.failure.to_wire() if st.failure else None
            raise DemoError(f"training failed: {failure}")


def watch_training(kube: Kube, say: Narrator) -> VersionSummary:
    say.step("Training: the Model controller creates a TrainingJob, which runs a batch/v1 Job")

    def latest() -> VersionSummary | None:
        model = kube.get(MODELS, NAMESPACE, "iris") or {}
        return ModelStatus.model_validate(model.get("status") or {}).latest_version

    version: VersionSummary = say.wait(
        "the first version", latest, 300, lambda: _narrate_training(kube, say)
    )
    say.say(f"Model iris: latest version {version.version} ({version.score or ''})")
    return version
