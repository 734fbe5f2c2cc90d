"""A Model's `spec.monitoring` in the serving pods: id input, capture and the token's Secret;
and the server reading back exactly what the builder wrote."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.api.v1alpha1 import Model, MonitoringSpec
from modelship.catalog.segments import default_store_uri
from modelship.contracts.capture import FEEDBACK_TOKEN_ENV, CaptureEnv
from modelship.operator.deployment.builders.canary import build_canary_deployment
from modelship.operator.deployment.builders.stages import build_stage_deployment
from modelship.operator.deployment.observation import ModelView
from modelship.operator.settings import OperatorSettings
from modelship.serving import ServingSettings

DIGEST = "sha256:" + "ab" * 32
MDEP = {
    "apiVersion": "modelship.io/v1alpha1",
    "kind": "Deployment",
    "metadata": {"name": "iris", "namespace": "ml", "uid": "d-1", "generation": 1},
    "spec": {"modelRef": {"name": "iris-model"}},
}
MONITORING = {
    "idInput": "row_id",
    "capture": {"sampleRate": 0.25, "exclude": ["email"], "store": "file:///captures"},
    "feedback": {"tokenSecret": "iris-feedback"},
}


def env_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = body["spec"]["template"]["spec"]["containers"][0]["env"]
    return env


def test_the_pod_carries_capture_and_reads_the_token_from_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monitoring = MonitoringSpec.model_validate(MONITORING)
    body = build_stage_deployment(
        MDEP, "production", 3, DIGEST, 2, None, OperatorSettings(), monitoring=monitoring
    )
    env = env_of(body)
    token = next(e for e in env if e["name"] == FEEDBACK_TOKEN_ENV)
    assert token == {
        "name": FEEDBACK_TOKEN_ENV,
        "valueFrom": {"secretKeyRef": {"name": "iris-feedback", "key": "token", "optional": True}},
    }
    values = {e["name"]: e["value"] for e in env if "value" in e}
    assert values["MODELSHIP_SERVING_ID_INPUT"] == "row_id"
    # The server reads the same variables into its settings: the contract holds end to end.
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    read = ServingSettings()  # type: ignore[call-arg]  # every required field is in the env
    assert read.capture == CaptureEnv(sample_rate=0.25, store="file:///captures", exclude=["email"])
    assert read.id_input == "row_id"


def test_without_monitoring_nothing_is_captured_and_no_secret_is_named() -> None:
    body = build_stage_deployment(MDEP, "test", 3, DIGEST, 1, None, OperatorSettings())
    names = {e["name"] for e in env_of(body)}
    assert FEEDBACK_TOKEN_ENV not in names
    assert not {"MODELSHIP_SERVING_CAPTURE", "MODELSHIP_SERVING_ID_INPUT"} & names
    off = MonitoringSpec.model_validate({"capture": {"sampleRate": 0}})
    body = build_stage_deployment(
        MDEP, "test", 3, DIGEST, 1, None, OperatorSettings(), monitoring=off
    )
    assert "MODELSHIP_SERVING_CAPTURE" not in {e["name"] for e in env_of(body)}


def test_the_canary_captures_like_production() -> None:
    monitoring = MonitoringSpec.model_validate(MONITORING)
    body = build_canary_deployment(
        MDEP, 4, DIGEST, 1, None, OperatorSettings(), monitoring=monitoring
    )
    assert any(e["name"] == "MODELSHIP_SERVING_CAPTURE" for e in env_of(body))


def test_the_model_view_reads_monitoring_and_ignores_what_it_cannot_read() -> None:
    model = {"spec": {"task": "classification", "monitoring": MONITORING}}
    view = ModelView.of(model)
    assert view.monitoring is not None and view.monitoring.capture.sample_rate == 0.25
    broken = ModelView.of({"spec": {"monitoring": {"capture": {"sampleRate": 7}}}})
    assert broken.monitoring is None


def test_monitoring_is_not_part_of_the_training_snapshot() -> None:
    spec = {
        "task": "classification",
        "dataset": {"uri": "builtin:iris"},
        "algorithm": {"name": "logistic_regression"},
        "monitoring": MONITORING,
    }
    model = Model.model_validate({"spec": spec})
    assert model.spec.monitoring.id_input == "row_id"
    assert "monitoring" not in model.spec.snapshot().model_dump(by_alias=True)


def pod_of(body: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = body["spec"]["template"]["spec"]
    return pod


def test_on_a_volume_catalog_the_default_store_is_mounted_writable_and_nothing_else_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The catalog stays read-only to the server; its model's `.monitoring` directory (where the
    evaluation Job and the trainer read) is mounted writable by subPath and named as the store."""
    capture_only = {"capture": {"sampleRate": 1.0}, "feedback": {"tokenSecret": "iris-feedback"}}
    monitoring = MonitoringSpec.model_validate(capture_only)
    settings = OperatorSettings()
    body = build_stage_deployment(
        MDEP, "production", 3, DIGEST, 2, None, settings, monitoring=monitoring
    )
    pod = pod_of(body)
    claims = {
        v["name"]: v["persistentVolumeClaim"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert claims["catalog"]["readOnly"] is True and mounts["catalog"]["readOnly"] is True
    store = mounts["capture-store"]
    assert claims["capture-store"] == {"claimName": settings.catalog_claim}
    assert store["subPath"] == "ml/iris-model/.monitoring" and not store.get("readOnly")
    values = {e["name"]: e["value"] for e in env_of(body) if "value" in e}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    read = ServingSettings()  # type: ignore[call-arg]
    assert read.capture is not None and read.capture.store == f"file://{store['mountPath']}"
    # the same directory the evaluation Job and the trainer read through the catalog's root
    evaluated = default_store_uri(settings.catalog_mount_path, "ml", "iris-model")
    assert evaluated == f"file://{settings.catalog_mount_path}/{store['subPath']}"


def test_a_named_store_or_a_registry_catalog_adds_no_mount() -> None:
    named = MonitoringSpec.model_validate(MONITORING)  # store: file:///captures
    body = build_stage_deployment(
        MDEP, "production", 3, DIGEST, 2, None, OperatorSettings(), monitoring=named
    )
    assert all(v["name"] != "capture-store" for v in pod_of(body)["volumes"])
    registry = OperatorSettings(catalog_uri="oci://registry.test/modelship")
    default = MonitoringSpec.model_validate({"capture": {"sampleRate": 1.0}})
    body = build_stage_deployment(MDEP, "production", 3, DIGEST, 2, None, registry,
                                  monitoring=default)  # fmt: skip
    assert all(v["name"] != "capture-store" for v in pod_of(body).get("volumes", []))
