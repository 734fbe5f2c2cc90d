"""Every variable the operator sets on a pod is one the process in that pod reads, unchanged.

The children are built with the operator's real builders; the variables are then put into the
environment and read back by the process's own settings root (`ServingSettings`,
`AcceptanceSettings`), as the pod would at start. Renaming a settings field without the operator
following (or the reverse) fails here, instead of silently switching a setting off.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from modelship.acceptance.settings import AcceptanceSettings
from modelship.api.v1alpha1 import AcceptanceSpec
from modelship.operator.deployment.builders.acceptance import build_acceptance_job
from modelship.operator.deployment.builders.stages import build_stage_deployment
from modelship.operator.settings import OperatorSettings
from modelship.serving.settings import ServingSettings

DIGEST = "sha256:" + "ab" * 32
MDEP = {
    "metadata": {"name": "iris", "namespace": "ml", "uid": "d-1", "generation": 1},
    "spec": {"modelRef": {"name": "iris-model"}},
}
SETTINGS = OperatorSettings(catalog_mount_path="/mnt/catalog")


def modelship_env(child: dict[str, Any]) -> dict[str, str]:
    """The container's MODELSHIP_* variables as a kubelet resolves them (limits.cpu: "2")."""
    (container,) = child["spec"]["template"]["spec"]["containers"]
    resolved = {"limits.cpu": "2"}
    return {
        e["name"]: e["value"]
        if "value" in e
        else resolved[e["valueFrom"]["resourceFieldRef"]["resource"]]
        for e in container["env"]
        if e["name"].startswith("MODELSHIP_")
    }


def unread(
    settings_class: type[BaseSettings], env: dict[str, str], mp: pytest.MonkeyPatch
) -> list[str]:
    """The variables of `env` that `settings_class` does not read back as they were written."""
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    for name, value in env.items():
        mp.setenv(name, value)
    read = settings_class().model_dump(mode="json")
    problems = []
    for name, value in env.items():
        field = name.removeprefix(prefix).lower()
        if not name.startswith(prefix) or field not in settings_class.model_fields:
            problems.append(f"{name}: no field of {settings_class.__name__} reads it")
            continue
        try:
            written = json.loads(value)
        except ValueError:
            written = value
        if read[field] != written and read[field] != value:
            problems.append(f"{name}: written {value!r}, read {read[field]!r}")
    return problems


@pytest.mark.parametrize("stage", ["test", "production"])
def test_the_serving_pod_reads_every_variable_the_operator_sets(
    stage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = modelship_env(build_stage_deployment(MDEP, stage, 3, DIGEST, 2, None, SETTINGS))
    assert env["MODELSHIP_SERVING_EXPECTED_DIGEST"] == DIGEST  # digest pinning is on
    assert unread(ServingSettings, env, monkeypatch) == []
    read = ServingSettings()  # type: ignore[call-arg]
    assert (read.model_name, read.version, read.expected_digest) == ("iris-model", 3, DIGEST)
    assert (read.stage, read.catalog_root, read.namespace) == (stage, "/mnt/catalog", "ml")
    assert read.workers == 2  # one per core of the CPU limit


def test_the_serving_pod_reads_the_admins_extra_artifact_types(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = OperatorSettings(catalog_mount_path="/mnt/catalog")
    assert "MODELSHIP_SERVING_TRUSTED_TYPES" not in modelship_env(
        build_stage_deployment(MDEP, "test", 3, DIGEST, 2, None, settings)
    )  # nothing allowed: no variable, and Deployments built before stay unchanged
    allowed = settings.model_copy(update={"allowed_artifact_types": ["_operator.abs"]})
    env = modelship_env(build_stage_deployment(MDEP, "test", 3, DIGEST, 2, None, allowed))
    assert unread(ServingSettings, env, monkeypatch) == []
    assert ServingSettings().trusted_types == ["_operator.abs"]  # type: ignore[call-arg]


def test_the_acceptance_job_reads_every_variable_the_operator_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = AcceptanceSpec(min_accuracy=0.9, max_latency_ms=250, samples=40)
    job = build_acceptance_job(
        MDEP, 3, DIGEST, ["http://10.0.0.7:8080"], spec, "classification", SETTINGS
    )
    env = modelship_env(job)
    assert set(env) == {
        "MODELSHIP_ACCEPTANCE_PLAN",
        "MODELSHIP_ACCEPTANCE_TERMINATION_MESSAGE_PATH",
    }
    assert unread(AcceptanceSettings, env, monkeypatch) == []
    plan = AcceptanceSettings().plan  # type: ignore[call-arg]
    assert (plan.model, plan.namespace, plan.version, plan.digest) == (
        "iris-model",
        "ml",
        3,
        DIGEST,
    )
    assert plan.acceptance == spec and plan.targets == ["http://10.0.0.7:8080"]
    assert plan.catalog_root == "/mnt/catalog"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    written = env["MODELSHIP_ACCEPTANCE_TERMINATION_MESSAGE_PATH"]
    assert container["terminationMessagePath"] == written


def test_a_variable_no_field_reads_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check itself fails for a misspelt variable and for a value read back differently."""
    env = modelship_env(build_stage_deployment(MDEP, "test", 3, DIGEST, 1, None, SETTINGS))
    env["MODELSHIP_SERVING_EXPECTED_DIGST"] = DIGEST
    env["MODELSHIP_SERVING_PORT"] = "08080"
    problems = unread(ServingSettings, env, monkeypatch)
    assert problems == [
        "MODELSHIP_SERVING_PORT: written '08080', read 8080",
        "MODELSHIP_SERVING_EXPECTED_DIGST: no field of ServingSettings reads it",
    ]
