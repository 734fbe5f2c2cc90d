"""The plan, scoring (Indexed) and assemble Jobs, and the environment contract read back."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.api.v1alpha1 import BatchPredictionSpec, ResolvedVersion
from modelship.batch.settings import BatchSettings
from modelship.operator.batch.builders import build_job, job_name, output_dir
from modelship.operator.kube.pods import RESTRICTED_CONTAINER_SECURITY
from modelship.operator.settings import OperatorSettings

BODY = {"metadata": {"name": "nightly", "namespace": "ml", "uid": "u-1"}}
DIGEST = "sha256:" + "a" * 64
RESOLVED = ResolvedVersion(
    version=4, digest=DIGEST, approved=True, approved_by="alice",
    input_digest="sha256:" + "b" * 64, rows=1000, shards=4,
)  # fmt: skip


def spec(**fields: Any) -> BatchPredictionSpec:
    return BatchPredictionSpec.model_validate(
        {
            "model": "iris",
            "version": {"stage": "production"},
            "input": {
                "uri": "builtin:iris",
                "idColumn": "id",
                "passthrough": ["region"],
                "digest": "sha256:" + "c" * 64,
            },
            "sharding": {"rowsPerShard": 250, "parallelism": 2, "retriesPerShard": 3},
            **fields,
        }
    )


def env_of(job: dict[str, Any]) -> dict[str, str]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_the_scoring_job_is_indexed_over_every_shard() -> None:
    settings = OperatorSettings()
    job = build_job(BODY, spec(), RESOLVED, "shard", 2, "/out", settings)
    assert job["metadata"]["name"] == "nightly-score-2" == job_name("nightly", "shard", 2)
    body = job["spec"]
    assert body["completionMode"] == "Indexed"
    assert (body["completions"], body["parallelism"], body["backoffLimitPerIndex"]) == (4, 2, 3)
    [rule] = body["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailIndex" and rule["onExitCodes"]["values"] == [2]
    assert job["metadata"]["ownerReferences"][0]["kind"] == "BatchPrediction"
    pod = body["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    assert container["command"] == ["python", "-m", "modelship.batch"]
    assert container["securityContext"] == RESTRICTED_CONTAINER_SECURITY


def test_the_environment_reads_back_through_the_worker_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = OperatorSettings()
    for step in ("plan", "shard", "assemble"):
        job = build_job(BODY, spec(), RESOLVED, step, 1, "/out", settings)  # type: ignore[arg-type]
        for name, value in env_of(job).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("JOB_COMPLETION_INDEX", "3")
        read = BatchSettings()
        assert read.step == step and read.digest == DIGEST and read.version == 4
        assert read.passthrough == ["region"] and read.id_column == "id"
        assert read.shards == 4 and read.rows_per_shard == 250 and read.shard_index == 3
        assert read.catalog_root == settings.catalog_mount_path and read.output_dir == "/out"
        # The planner checks the user's pin; later steps the digest the planner read.
        expected = "sha256:" + ("c" if step == "plan" else "b") * 64
        assert read.input_digest == expected


def test_plan_and_assemble_fail_the_job_on_bad_input() -> None:
    job = build_job(BODY, spec(), RESOLVED, "plan", 1, "/out", OperatorSettings())
    assert "completionMode" not in job["spec"] and job["spec"]["backoffLimit"] == 2
    assert job["spec"]["podFailurePolicy"]["rules"][0]["action"] == "FailJob"


def test_output_directory_defaults_to_the_catalog_volume() -> None:
    volume = OperatorSettings()
    expected = f"{volume.catalog_mount_path}/ml/iris/predictions/nightly"
    assert output_dir(spec(), "ml", "nightly", volume) == expected
    given = spec(output={"uri": "file:///data/out%20dir"})
    assert output_dir(given, "ml", "nightly", volume) == "/data/out dir"
    registry = OperatorSettings(catalog_uri="oci://registry.local:5000/models")
    assert output_dir(spec(), "ml", "nightly", registry) is None


def test_with_a_registry_catalog_the_jobs_write_to_the_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No directory in the environment: the worker writes beside the version in the registry."""
    settings = OperatorSettings(catalog_uri="oci://registry.local:5000/models?plain-http=true")
    directory = output_dir(spec(), "ml", "nightly", settings)
    job = build_job(BODY, spec(), RESOLVED, "assemble", 1, directory, settings)
    env = env_of(job)
    assert "MODELSHIP_BATCH_OUTPUT_DIR" not in env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    read = BatchSettings()
    assert read.output_dir is None and read.catalog_root == settings.catalog_uri
