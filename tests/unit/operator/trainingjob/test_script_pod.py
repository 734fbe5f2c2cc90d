"""Script mode in the operator: the pod's containers (who sees which secret, volume and variable),
the admin allowlist policy before any pod, and a failed code step read as final."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelship.api.v1alpha1 import ModelSpec, TrainingJob
from modelship.contracts.training import TrainerEnv, TrainerSummary
from modelship.contracts.training_code import CodeRunnerEnv
from modelship.operator.kube.actions import CreateJob
from modelship.operator.model.builders import build_training_job
from modelship.operator.model.observation import ObservedTrainingJob
from modelship.operator.model.summary import version_summaries
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.builders import build_training_pod_job
from modelship.operator.trainingjob.decide import AttemptObservation, decide
from modelship.operator.trainingjob.outcome import Outcome, read_outcome
from modelship.training.script.runner import CodeRunnerSettings
from modelship.training.settings import TrainerSettings

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BODY = {"metadata": {"name": "churn-g1", "namespace": "ml", "uid": "tj-u"},
        "spec": {"modelRef": {"name": "churn"}}}  # fmt: skip
REGISTRY = OperatorSettings(
    catalog_uri="oci://registry.local:5000/models",
    catalog_credentials_secret="push-creds",
    allowed_artifact_types=["_operator.abs"],
)
VOLUME = OperatorSettings()


def code_spec(**code: Any) -> dict[str, Any]:
    return {
        "task": "classification",
        "dataset": {"uri": "builtin:iris"},
        "training": {
            "code": {"configMap": {"name": "churn-train", "key": "train.py"}, **code},
            "timeoutSeconds": 900,
        },
    }


def training_job(**code: Any) -> TrainingJob:
    spec = ModelSpec.model_validate(code_spec(**code))
    model = {"metadata": {"name": "churn", "namespace": "ml", "uid": "u", "generation": 1}}
    return TrainingJob.model_validate(build_training_job(model, spec, "spec-change", "r", "1"))


def pod_of(settings: OperatorSettings, **code: Any) -> dict[str, Any]:
    job = build_training_pod_job(BODY, training_job(**code).spec.snapshot, 1, settings)
    assert job["spec"]["activeDeadlineSeconds"] == 900
    pod: dict[str, Any] = job["spec"]["template"]["spec"]
    return pod


def containers(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in [*pod["initContainers"], *pod["containers"]]}


def mounts(container: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {
        m["mountPath"]: (m["name"], bool(m.get("readOnly")))
        for m in container.get("volumeMounts", [])
    }


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_the_pod_runs_prepare_then_code_then_the_publishing_trainer() -> None:
    pod = pod_of(REGISTRY)
    assert [c["name"] for c in pod["initContainers"]] == ["prepare", "code"]
    assert [c["name"] for c in pod["containers"]] == ["trainer"]
    assert [c["command"][-1] for c in containers(pod).values()] == [
        "modelship.training.script.prepare",
        "modelship.training.script.runner",
        "modelship.training.script.publish",
    ]
    assert pod["automountServiceAccountToken"] is False
    for container in containers(pod).values():
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_only_modelship_containers_hold_the_registry_secret_and_the_code_container_none() -> None:
    pod = pod_of(REGISTRY)
    by_name = containers(pod)
    secret_volumes = {v["name"] for v in pod["volumes"] if "secret" in v}
    assert secret_volumes == {"registry-credentials"}
    code = by_name["code"]
    assert not {name for name, _ in mounts(code).values()} & secret_volumes
    assert not [e for e in code["env"] if not e["name"].startswith(("MODELSHIP_CODE_", "HOME"))]
    for name in ("prepare", "trainer"):
        assert ("registry-credentials", True) in mounts(by_name[name]).values()
        assert "DOCKER_CONFIG" in env(by_name[name])
        assert by_name[name]["image"] == REGISTRY.image


def test_the_code_container_sees_training_rows_and_code_only_never_the_holdout() -> None:
    pod = pod_of(VOLUME)
    by_name = containers(pod)
    code = mounts(by_name["code"])
    assert code == {
        "/var/run/modelship/work/train": ("work-train", True),
        "/var/run/modelship/work/code": ("work-code", True),
        "/var/run/modelship/work/output": ("work-output", False),
        "/tmp": ("code-tmp", False),
    }
    # The catalog volume: written by the publishing trainer only, read-only for prepare.
    assert mounts(by_name["trainer"])["/var/lib/modelship/catalog"] == ("catalog", False)
    assert mounts(by_name["prepare"])["/var/lib/modelship/catalog"] == ("catalog", True)
    assert mounts(by_name["trainer"])["/var/run/modelship/work/holdout"] == ("work-holdout", True)
    assert mounts(by_name["trainer"])["/var/run/modelship/work/output"] == ("work-output", True)
    # The ConfigMap is optional (a missing one is reported by prepare) and mounted there alone.
    (source,) = [v for v in pod["volumes"] if "configMap" in v]
    assert source["configMap"] == {
        "name": "churn-train",
        "items": [{"key": "train.py", "path": "user_training_code.py"}],
        "optional": True,
    }
    assert {
        path for path, (_, read_only) in mounts(by_name["prepare"]).items() if not read_only
    } == {
        "/tmp",
        "/var/run/modelship/work/train",
        "/var/run/modelship/work/holdout",
        "/var/run/modelship/work/code",
    }
    assert [n for n, c in by_name.items() if "/var/run/modelship/code-source" in mounts(c)] == [
        "prepare"
    ]


def test_a_team_image_runs_the_code_step_only() -> None:
    by_name = containers(pod_of(VOLUME, image="registry.local/team/trainer@sha256:" + "e" * 64))
    assert by_name["code"]["image"].startswith("registry.local/team/trainer@")
    assert by_name["prepare"]["image"] == by_name["trainer"]["image"] == VOLUME.image


def test_every_variable_set_is_read_back_by_each_step(monkeypatch: pytest.MonkeyPatch) -> None:
    by_name = containers(pod_of(REGISTRY, params={"C": 0.5}, timeoutSeconds=30))
    for name in ("prepare", "trainer"):
        with monkeypatch.context() as mp:
            for key, value in env(by_name[name]).items():
                mp.setenv(key, value)
            read = TrainerSettings()
            assert read.allowed_types == ["_operator.abs"]
            assert read.catalog_root == REGISTRY.catalog_uri
            assert json.loads(env(by_name[name])[TrainerEnv.env_name("snapshot")])["training"]
    with monkeypatch.context() as mp:
        for key, value in env(by_name["code"]).items():
            mp.setenv(key, value)
        runner = CodeRunnerSettings()
        assert (runner.entrypoint, runner.params, runner.timeout_seconds) == (
            "train",
            {"C": 0.5},
            30,
        )
        assert (
            runner.model_dump() == CodeRunnerEnv(params={"C": 0.5}, timeout_seconds=30).model_dump()
        )


def test_a_type_off_the_admin_list_fails_the_training_job_before_any_pod() -> None:
    tj = training_job(trustedTypes=["_operator.abs", "mypkg.Encoder"])
    decision = decide(tj, BODY, 1, AttemptObservation(job_exists=False), NOW, REGISTRY)
    assert decision.status.phase == "Failed"
    assert decision.status.failure is not None
    assert decision.status.failure.reason == "TrustedTypeNotAllowed"
    assert "mypkg.Encoder" in decision.status.failure.message
    assert "_operator.abs" not in decision.status.failure.message
    assert not [a for a in decision.actions if isinstance(a, CreateJob)]


def test_a_type_on_the_admin_list_starts_training() -> None:
    tj = training_job(trustedTypes=["_operator.abs"])
    first = decide(tj, BODY, 1, AttemptObservation(job_exists=False), NOW, REGISTRY)
    assert first.status.phase == "Pending"
    tj = tj.model_copy(update={"status": first.status})
    second = decide(tj, BODY, 1, AttemptObservation(job_exists=False), NOW, REGISTRY)
    assert [type(a) for a in second.actions] == [CreateJob]


def test_nothing_may_be_requested_when_the_admin_listed_nothing() -> None:
    tj = training_job(trustedTypes=["_operator.abs"])
    decision = decide(tj, BODY, 1, AttemptObservation(job_exists=False), NOW, VOLUME)
    assert decision.status.failure is not None
    assert decision.status.failure.reason == "TrustedTypeNotAllowed"


def script_pod_status(init: list[dict[str, Any]], trainer_state: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {
            "initContainerStatuses": init,
            "containerStatuses": [{"name": "trainer", "state": trainer_state}],
        },
    }


FAILED_JOB = {"metadata": {"name": "j"}, "status": {"conditions": [
    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}  # fmt: skip


def test_the_code_step_failing_is_final_and_names_what_happened() -> None:
    report = json.dumps({"reason": "CodeRaised", "error": "train raised ValueError: bad"})
    pods = [
        script_pod_status(
            [
                {"name": "prepare", "state": {"terminated": {"exitCode": 0}}},
                {"name": "code", "state": {"terminated": {"exitCode": 2, "message": report}}},
            ],
            {"waiting": {"reason": "PodInitializing"}},
        )
    ]
    outcome = read_outcome(FAILED_JOB, pods)
    assert (outcome.state, outcome.reason, outcome.retryable) == ("failed", "CodeRaised", False)
    assert "ValueError: bad" in outcome.message


def test_a_team_image_that_cannot_be_pulled_is_final_too() -> None:
    pods = [
        script_pod_status(
            [
                {"name": "prepare", "state": {"terminated": {"exitCode": 0}}},
                {"name": "code", "state": {"waiting": {"reason": "InvalidImageName"}}},
            ],
            {"waiting": {"reason": "PodInitializing"}},
        )
    ]
    running_job = {"metadata": {"name": "j"}, "status": {}}
    outcome = read_outcome(running_job, pods)
    assert (outcome.state, outcome.reason, outcome.retryable) == ("failed", "ImageCannotRun", False)


def test_a_crashed_prepare_step_is_retried_like_the_trainer() -> None:
    pods = [
        script_pod_status(
            [{"name": "prepare", "state": {"terminated": {"exitCode": 1, "message": ""}}}],
            {"waiting": {"reason": "PodInitializing"}},
        )
    ]
    assert read_outcome(FAILED_JOB, pods).retryable


def test_the_code_digest_reaches_the_training_job_and_the_model_versions() -> None:
    tj = training_job()
    running = tj.model_copy(
        update={"status": tj.status.model_copy(update={"attempts": 1, "phase": "Running"})}
    )
    code_digest = "sha256:" + "f" * 64
    summary = TrainerSummary(
        version=3, digest="sha256:" + "a" * 64, metrics={"accuracy": 0.97}, code_digest=code_digest
    )
    observed = AttemptObservation(job_exists=True, outcome=Outcome("succeeded", summary=summary))
    decision = decide(running, BODY, 1, observed, NOW, VOLUME)
    assert decision.status.phase == "Succeeded"
    assert decision.status.code_digest == code_digest
    finished = ObservedTrainingJob(name="churn-g1", status=decision.status)
    (version,) = version_summaries([finished], [], limit=10)
    assert (version.version, version.code_digest) == (3, code_digest)
    line = json.loads(summary.termination_line())
    assert line["codeDigest"] == code_digest
    assert "codeDigest" not in json.loads(summary.model_copy(update={"code_digest": None})
                                          .termination_line())  # fmt: skip
