"""With a registry catalog no pod mounts a volume: trainers push, serving and acceptance pull by
digest into their own emptyDir, with the credentials Secret named in settings mounted read-only.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from modelship.api.v1alpha1 import AcceptanceSpec, ModelSpec, TrainingSnapshot
from modelship.operator.deployment.builders.acceptance import build_acceptance_job
from modelship.operator.deployment.builders.stages import build_stage_deployment
from modelship.operator.kube.catalog_access import CREDENTIALS_DIR, uses_volume
from modelship.operator.model.builders import build_training_job
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.builders import build_training_pod_job

URI = "oci://registry.example:5000/ml?plain-http=true"
DIGEST = "sha256:" + "ab" * 32
ARTIFACT = f"oci://registry.example:5000/ml/team-a/iris@sha256:{'cd' * 32}"
MDEP = {
    "metadata": {"name": "iris", "namespace": "team-a", "uid": "d-1", "generation": 1},
    "spec": {"modelRef": {"name": "iris"}},
}
REGISTRY = OperatorSettings(catalog_uri=URI, catalog_credentials_secret="registry-push")


def trainer_job(settings: OperatorSettings) -> dict[str, Any]:
    spec = ModelSpec.model_validate(
        {"task": "classification", "dataset": {"uri": "builtin:iris"}, "algorithm": {"name": "knn"}}
    )
    model = {"metadata": {"name": "iris", "namespace": "team-a", "uid": "u", "generation": 1}}
    tj = build_training_job(model, spec, "spec-change", "r", "1")
    tj["metadata"]["uid"] = "t"
    return build_training_pod_job(
        tj, TrainingSnapshot.model_validate(tj["spec"]["snapshot"]), 1, settings
    )


def pods(settings: OperatorSettings) -> dict[str, dict[str, Any]]:
    spec = AcceptanceSpec(min_accuracy=0.9)
    return {
        "trainer": trainer_job(settings)["spec"]["template"]["spec"],
        "serving": build_stage_deployment(
            MDEP, "test", 1, DIGEST, 1, None, settings, artifact=ARTIFACT
        )["spec"]["template"]["spec"],
        "acceptance": build_acceptance_job(
            MDEP, 1, DIGEST, ["http://p"], spec, "classification", settings, artifact=ARTIFACT
        )["spec"]["template"]["spec"],
    }


def env_of(pod: dict[str, Any]) -> dict[str, str]:
    (container,) = pod["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}  # not valueFrom


@pytest.mark.parametrize("kind", ["trainer", "serving", "acceptance"])
def test_registry_pods_mount_no_claim_and_get_the_named_credentials(kind: str) -> None:
    pod = pods(REGISTRY)[kind]
    (container,) = pod["containers"]

    assert not any("persistentVolumeClaim" in v for v in pod["volumes"])
    (secret,) = [v["secret"] for v in pod["volumes"] if "secret" in v]
    assert secret == {
        "secretName": "registry-push",
        "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
    }
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == CREDENTIALS_DIR)
    assert mount["readOnly"] is True
    assert env_of(pod)["DOCKER_CONFIG"] == CREDENTIALS_DIR
    assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])


def test_registry_pods_are_told_the_catalog_uri_and_the_pinned_manifest() -> None:
    built = pods(REGISTRY)

    assert env_of(built["trainer"])["MODELSHIP_TRAINING_CATALOG_ROOT"] == URI
    serving = env_of(built["serving"])
    assert serving["MODELSHIP_SERVING_CATALOG_ROOT"] == URI
    assert serving["MODELSHIP_SERVING_ARTIFACT"] == ARTIFACT
    plan = env_of(built["acceptance"])["MODELSHIP_ACCEPTANCE_PLAN"]
    assert ARTIFACT in plan and URI in plan


def test_without_a_secret_registry_pods_run_anonymously() -> None:
    settings = OperatorSettings(catalog_uri=URI)

    for pod in pods(settings).values():
        assert [v["name"] for v in pod["volumes"]] == ["tmp"]
        assert "DOCKER_CONFIG" not in env_of(pod)


def test_the_volume_catalog_stays_the_default() -> None:
    settings = OperatorSettings()
    built = pods(settings)

    assert uses_volume(settings) and not uses_volume(REGISTRY)
    claims = [v for v in built["serving"]["volumes"] if "persistentVolumeClaim" in v]
    assert claims[0]["persistentVolumeClaim"] == {
        "claimName": "modelship-catalog",
        "readOnly": True,
    }
    trainer_claims = [v for v in built["trainer"]["volumes"] if "persistentVolumeClaim" in v]
    assert trainer_claims[0]["persistentVolumeClaim"] == {"claimName": "modelship-catalog"}


@pytest.mark.parametrize("uri", ["s3://bucket/ml", "oci://", "registry.example/ml"])
def test_a_catalog_uri_that_is_not_a_registry_is_refused(uri: str) -> None:
    with pytest.raises(ValidationError, match="catalog_uri"):
        OperatorSettings(catalog_uri=uri)
