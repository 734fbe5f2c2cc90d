"""Every pod the operator creates is built on one restricted skeleton (`kube.pods`): checked on
the objects each builder returns, for a volume catalog and a registry catalog alike."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.api.v1alpha1 import AcceptanceSpec, ModelSpec, TrainingJob
from modelship.operator.deployment.builders.acceptance import build_acceptance_job
from modelship.operator.deployment.builders.canary import (
    build_canary_deployment,
    build_router_deployment,
)
from modelship.operator.deployment.builders.stages import build_stage_deployment
from modelship.operator.kube.pods import RESTRICTED_CONTAINER_SECURITY
from modelship.operator.model.builders import build_dataset_probe_job, build_training_job
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.builders import build_training_pod_job

Obj = dict[str, Any]
DIGEST = "sha256:" + "a" * 64
MODEL = {
    "apiVersion": "modelship.io/v1alpha1",
    "kind": "Model",
    "metadata": {"name": "iris", "namespace": "ml", "uid": "m-1", "generation": 1},
    "spec": {
        "task": "classification",
        "dataset": {"uri": "builtin:iris"},
        "algorithm": {"name": "random_forest"},
    },
}
MDEP = {"metadata": {"name": "iris", "namespace": "ml", "uid": "d-1"},
        "spec": {"modelRef": {"name": "iris"}}}  # fmt: skip
CATALOGS = {
    "volume": OperatorSettings(),
    "registry": OperatorSettings(catalog_uri="oci://registry.example/ml"),
    "registry+credentials": OperatorSettings(
        catalog_uri="oci://registry.example/ml", catalog_credentials_secret="regcred"
    ),
}


def pods(settings: OperatorSettings) -> dict[str, Obj]:
    """Each builder's pod spec, by what runs in it."""
    tj = build_training_job(MODEL, ModelSpec.model_validate(MODEL["spec"]), "spec-change", "", "1")
    tj["metadata"]["uid"] = "t-1"
    snapshot = TrainingJob.model_validate(tj).spec.snapshot
    objects = {
        "trainer": build_training_pod_job(tj, snapshot, 1, settings),
        "probe": build_dataset_probe_job(MODEL, "file:///data/iris.csv", 1, settings),
        "test": build_stage_deployment(MDEP, "test", 1, DIGEST, 1, None, settings),
        "production": build_stage_deployment(MDEP, "production", 1, DIGEST, 2, None, settings),
        "canary": build_canary_deployment(MDEP, 2, DIGEST, 1, None, settings),
        "acceptance": build_acceptance_job(
            MDEP, 1, DIGEST, ["10.0.0.1:8080"], AcceptanceSpec(), "classification", settings
        ),
        "router": build_router_deployment(MDEP, settings),
    }
    return {name: body["spec"]["template"]["spec"] for name, body in objects.items()}


@pytest.mark.parametrize("catalog", list(CATALOGS), ids=list(CATALOGS))
def test_every_pod_meets_the_restricted_profile(catalog: str) -> None:
    for name, pod in pods(CATALOGS[catalog]).items():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert ("fsGroup" in security) == bool(pod.get("volumes")), name
        for container in pod["containers"]:
            assert container["securityContext"] == RESTRICTED_CONTAINER_SECURITY, name
            assert container["command"][:2] == ["python", "-m"], name
            assert container["env"][-1] == {"name": "HOME", "value": "/tmp"}, name
        # Only the router calls the API (its routing table, EndpointSlices), with its own account.
        assert pod["automountServiceAccountToken"] is (name == "router"), name


@pytest.mark.parametrize("catalog", ["registry", "registry+credentials"])
def test_with_a_registry_no_pod_mounts_a_catalog_claim(catalog: str) -> None:
    """The dataset probe once mounted the claim regardless, and no one creates a claim when the
    catalog is a registry: its pod could never start."""
    for name, pod in pods(CATALOGS[catalog]).items():
        claims = [v for v in pod.get("volumes", []) if "persistentVolumeClaim" in v]
        assert claims == [], name


def test_the_probe_reads_the_catalog_claim_like_the_trainer_and_never_registry_credentials() -> (
    None
):
    volume = pods(CATALOGS["volume"])
    (probe,), (trainer,) = volume["probe"]["containers"], volume["trainer"]["containers"]
    claim = next(v for v in volume["probe"]["volumes"] if "persistentVolumeClaim" in v)
    assert claim["persistentVolumeClaim"]["readOnly"] is True
    assert [m["mountPath"] for m in probe["volumeMounts"]] == [
        m["mountPath"] for m in trainer["volumeMounts"] if m["name"] == "catalog"
    ]
    with_credentials = pods(CATALOGS["registry+credentials"])
    assert (
        "volumes" not in with_credentials["probe"]
    )  # the trainer mounts the Secret; the probe not
    assert any("secret" in v for v in with_credentials["trainer"]["volumes"])


def test_reporting_processes_report_through_their_termination_message() -> None:
    for name, pod in pods(CATALOGS["volume"]).items():
        (container,) = pod["containers"]
        reports = name in ("trainer", "probe", "acceptance")
        assert (container.get("terminationMessagePolicy") == "FallbackToLogsOnError") is reports
