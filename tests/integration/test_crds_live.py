"""The CRDs on a real API server: established, samples accepted, malformed objects refused."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship.api.v1alpha1 import DeploymentStatus
from modelship.operator.kube.client import Kube, KubeError
from modelship.operator.kube.lookups import deployments_of_model
from modelship.operator.kube.perform import write_status_over
from modelship.operator.kube.resources import (
    BATCH_PREDICTIONS,
    MODEL_DEPLOYMENTS,
    MODELS,
    TRAINING_JOBS,
)
from support.kubectl import MANIFESTS, Kubectl
from support.waiting import wait_for

pytestmark = pytest.mark.integration
SAMPLES = MANIFESTS / "samples"


@pytest.fixture(scope="module")
def namespace(kubectl: Kubectl) -> Iterator[str]:
    """One namespace for the module, new each session (a kept cluster may hold an old one)."""
    name = f"crd-checks-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


def sample(kind: str) -> dict[str, Any]:
    for path in sorted(SAMPLES.glob("*-*.yaml")):
        body = yaml.safe_load(path.read_text())
        if body["kind"] == kind:
            return dict(body)
    raise LookupError(kind)


def test_every_crd_is_established(kubectl: Kubectl) -> None:
    result = kubectl("get", "crd", "-o", "yaml")
    crds = {item["metadata"]["name"]: item for item in yaml.safe_load(result.stdout)["items"]}
    for name in (
        "models.modelship.io",
        "trainingjobs.modelship.io",
        "deployments.modelship.io",
        "batchpredictions.modelship.io",
    ):
        conditions = {c["type"]: c["status"] for c in crds[name]["status"]["conditions"]}
        assert conditions.get("Established") == "True", name


def test_samples_are_accepted_and_listed_by_category(kubectl: Kubectl, namespace: str) -> None:
    files = [
        arg
        for path in sorted(SAMPLES.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for arg in ("-f", str(path))
    ]
    applied = kubectl("apply", "-n", namespace, *files)
    assert applied.stdout.count("created") + applied.stdout.count("unchanged") == 5, applied.stdout
    listed = kubectl("get", "modelship", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(listed) == [
        "batchprediction.modelship.io/iris-nightly",
        "deployment.modelship.io/iris",
        "model.modelship.io/churn",
        "model.modelship.io/iris",
        "trainingjob.modelship.io/iris-manual-1",
    ]
    short = kubectl("get", "mdl,tj,mdep", "-n", namespace).stdout
    assert "iris-manual-1" in short and "TASK" in short and "TRIGGER" in short


def test_kubectl_explain_shows_field_descriptions(kubectl: Kubectl) -> None:
    # The API server publishes a new CRD's schema to its OpenAPI document a few seconds after
    # the CRD is established.
    explained = wait_for(
        lambda: kubectl("explain", "models.spec.dataset", check=False).stdout,
        timeout=60,
        what="kubectl explain models.spec.dataset",
        describe=lambda: kubectl("explain", "models.spec.dataset", check=False).stderr,
    )
    assert "builtin:<name>" in explained and "target" in explained


MODEL_BREAKAGES = [
    ("spec.algorithm.name", lambda s: s["algorithm"].update(name="deep_magic")),
    ("spec.dataset", lambda s: s.pop("dataset")),
    ("spec.evaluation.testFraction", lambda s: s["evaluation"].update(testFraction=1.5)),
    ("spec.training.maxAttempts", lambda s: s["training"].update(maxAttempts="three")),
    ("spec.task", lambda s: s.update(task="clustering")),
]


@pytest.mark.parametrize(
    ("field", "breakage"), MODEL_BREAKAGES, ids=[b[0] for b in MODEL_BREAKAGES]
)
def test_malformed_models_are_refused_with_422_naming_the_field(
    kube: Kube, namespace: str, field: str, breakage: Any
) -> None:
    body = copy.deepcopy(sample("Model"))
    body["metadata"] = {"name": "broken"}
    breakage(body["spec"])
    with pytest.raises(KubeError) as caught:
        kube.create(MODELS, namespace, body)
    assert caught.value.status == 422
    assert field in str(caught.value)


def test_negative_replicas_are_refused(kube: Kube, namespace: str) -> None:
    body = copy.deepcopy(sample("Deployment"))
    body["metadata"] = {"name": "broken"}
    body["spec"]["production"]["replicas"] = -1
    with pytest.raises(KubeError) as caught:
        kube.create(MODEL_DEPLOYMENTS, namespace, body)
    assert caught.value.status == 422 and "spec.production.replicas" in str(caught.value)


BATCH_BREAKAGES = [
    ("version needs exactly one of stage, number or digest",
     lambda spec: spec["version"].update({"number": 3})),
    ("spec.version", lambda spec: spec.update({"version": {}})),
    ("spec.sharding.rowsPerShard", lambda spec: spec["sharding"].update({"rowsPerShard": 0})),
    ("spec.input", lambda spec: spec.pop("input")),
    ("spec.output.format", lambda spec: spec["output"].update({"format": "parquet"})),
]  # fmt: skip


@pytest.mark.parametrize(
    ("named", "breakage"), BATCH_BREAKAGES, ids=[str(i) for i in range(len(BATCH_BREAKAGES))]
)
def test_malformed_batch_predictions_are_refused_with_422_naming_the_field(
    kube: Kube, namespace: str, named: str, breakage: Any
) -> None:
    body = copy.deepcopy(sample("BatchPrediction"))
    body["metadata"] = {"name": "broken"}
    breakage(body["spec"])
    with pytest.raises(KubeError) as caught:
        kube.create(BATCH_PREDICTIONS, namespace, body)
    assert caught.value.status == 422 and named in str(caught.value), caught.value


def test_wrong_trigger_is_refused(kube: Kube, namespace: str) -> None:
    body = copy.deepcopy(sample("TrainingJob"))
    body["metadata"] = {"name": "broken"}
    body["spec"]["trigger"] = "whim"
    with pytest.raises(KubeError) as caught:
        kube.create(TRAINING_JOBS, namespace, body)
    assert caught.value.status == 422 and "spec.trigger" in str(caught.value)


def test_unknown_fields_are_refused_by_kubectl_and_never_stored(
    kubectl: Kubectl, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    """kubectl asks for strict field validation (server-side since 1.25): the API server refuses
    the unknown field, naming it. A client that asks for nothing gets the default (warn): the
    field is dropped, never stored."""
    body = copy.deepcopy(sample("Model"))
    body["metadata"] = {"name": "typo"}
    body["spec"]["surprise"] = True
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(yaml.safe_dump(body))
    refused = kubectl("apply", "-n", namespace, "-f", str(manifest), check=False)
    assert refused.returncode != 0
    assert "surprise" in refused.stderr
    created = kube.create(MODELS, namespace, body)
    assert "surprise" not in created["spec"]


def test_empty_strings_are_stored_as_empty_strings(kube: Kube, namespace: str) -> None:
    """Guards the control-plane build: a validator built wrongly can take an empty string for
    null and refuse it (the Debian 1.20 build once did)."""
    body = copy.deepcopy(sample("Model"))
    body["metadata"] = {"name": "empty-strings"}
    kube.create(MODELS, namespace, body)
    condition = {
        "type": "Ready",
        "status": "False",
        "reason": "Pending",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    patched = kube.patch(
        MODELS, namespace, "empty-strings", {"status": {"conditions": [condition]}}, status=True
    )
    assert patched["status"]["conditions"][0]["message"] == ""


def test_a_models_deployments_are_selected_by_the_api_server(kube: Kube, namespace: str) -> None:
    """`spec.modelRef.name` is a selectable field: a Model's reconcile reads its own Deployments,
    not the namespace's (`kube/lookups.py`); a field the CRD does not declare is refused."""
    body = sample("Deployment")
    for name, model in (("picks-a", "alpha"), ("picks-b", "beta"), ("picks-c", "alpha")):
        created = copy.deepcopy(body)
        created["metadata"] = {"name": name, "namespace": namespace}
        created["spec"]["modelRef"] = {"name": model}
        kube.create(MODEL_DEPLOYMENTS, namespace, created)
    picked = deployments_of_model(kube, namespace, "alpha")
    assert sorted(d["metadata"]["name"] for d in picked) == ["picks-a", "picks-c"]
    assert deployments_of_model(kube, namespace, "gamma") == []
    with pytest.raises(KubeError) as refused:
        kube.list(MODEL_DEPLOYMENTS, namespace, fields={"spec.task": "x"})
    assert refused.value.status == 400


def test_a_status_write_over_a_stale_body_is_refused_and_over_the_current_one_made(
    kube: Kube, namespace: str
) -> None:
    """A drift pass writes from the body the watch last delivered (`write_status_over`): the
    API server must refuse that status patch when the Deployment moved since, not apply it."""
    body = copy.deepcopy(sample("Deployment"))
    body["metadata"] = {"name": "guarded-status"}
    kept = kube.create(MODEL_DEPLOYMENTS, namespace, body)
    old = DeploymentStatus()
    moved = kube.patch(
        MODEL_DEPLOYMENTS, namespace, "guarded-status", {"status": {"phase": "Pending"}}, True
    )
    assert moved["metadata"]["resourceVersion"] != kept["metadata"]["resourceVersion"]
    new = DeploymentStatus(phase="Serving")
    assert write_status_over(kube, MODEL_DEPLOYMENTS, kept, old, new) is None  # stale: refused
    stored = kube.get(MODEL_DEPLOYMENTS, namespace, "guarded-status")
    assert stored is not None and stored["status"]["phase"] == "Pending"
    current = DeploymentStatus(phase="Pending")
    written = write_status_over(kube, MODEL_DEPLOYMENTS, stored, current, new)
    assert written is not None and written["status"]["phase"] == "Serving"
    assert written["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"]
    gone = {**stored, "metadata": {**stored["metadata"], "name": "never-made"}}
    assert write_status_over(kube, MODEL_DEPLOYMENTS, gone, current, new) is None  # 404
