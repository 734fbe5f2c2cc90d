"""Stage builders, rollout reading and the approval gate, without a cluster."""

from __future__ import annotations

from typing import Any

from modelship.acceptance.checks import Observations, evaluate, percentile
from modelship.api.v1alpha1 import (
    AcceptanceSpec,
    Approval,
    ModelStatus,
    ProductionStatus,
    TestStageStatus,
    VersionRef,
)
from modelship.api.v1alpha1.deployment import FailedRollout
from modelship.operator.deployment.approval import judge_approval
from modelship.operator.deployment.builders.acceptance import build_acceptance_job
from modelship.operator.deployment.builders.stages import (
    build_pdb,
    build_stage_deployment,
    build_stage_service,
)
from modelship.operator.deployment.rollout import (
    AcceptanceJob,
    PodState,
    acceptance_result,
    deadline_exceeded,
    ready_targets,
    rollout_complete,
)
from modelship.operator.deployment.versions import NoVersion, Unavailable, resolve_version
from modelship.operator.settings import OperatorSettings

DIGEST = "sha256:" + "ab" * 32
MDEP = {
    "apiVersion": "modelship.io/v1alpha1",
    "kind": "Deployment",
    "metadata": {"name": "iris", "namespace": "ml", "uid": "d-1", "generation": 1},
    "spec": {"modelRef": {"name": "iris-model"}},
}


def test_production_rolls_with_surge_and_never_drops_below_replicas() -> None:
    body = build_stage_deployment(MDEP, "production", 3, DIGEST, 2, None, OperatorSettings())
    assert body["metadata"]["name"] == "iris"
    assert body["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert body["spec"]["selector"]["matchLabels"] == {
        "modelship.io/deployment": "iris",
        "modelship.io/stage": "production",
    }
    labels = body["spec"]["template"]["metadata"]["labels"]
    assert labels["modelship.io/version"] == "3" and labels["modelship.io/model"] == "iris-model"
    container = body["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["MODELSHIP_SERVING_EXPECTED_DIGEST"] == DIGEST
    assert env["MODELSHIP_SERVING_STAGE"] == "production"
    assert env["MODELSHIP_SERVING_GRPC_PORT"] == "8081"
    # one worker per core of the container's CPU limit
    assert env["MODELSHIP_SERVING_WORKERS"] == {
        "resourceFieldRef": {"containerName": "server", "resource": "limits.cpu", "divisor": "1"}
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["catalog"]["readOnly"] is True
    assert (
        body["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["readOnly"] is True
    )


def test_test_stage_and_service_and_pdb() -> None:
    test = build_stage_deployment(MDEP, "test", 3, DIGEST, 1, None, OperatorSettings())
    assert test["metadata"]["name"] == "iris-test" and "strategy" not in test["spec"]
    service = build_stage_service(MDEP, "test")
    assert service["spec"]["selector"] == test["spec"]["selector"]["matchLabels"]
    assert build_pdb(MDEP)["spec"]["maxUnavailable"] == 1
    assert build_pdb(MDEP)["apiVersion"] == "policy/v1"


def test_acceptance_job_carries_the_plan() -> None:
    job = build_acceptance_job(
        MDEP,
        3,
        DIGEST,
        ["http://127.1.0.2:8080"],
        AcceptanceSpec(),
        "classification",
        OperatorSettings(),
    )
    assert job["metadata"]["name"] == "iris-accept-v3-abababab"
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert '"targets": ["http://127.1.0.2:8080"]' in env[0]["value"]


def deployment(generation: int = 2, observed: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": observed, **status},
    }


def test_rollout_is_complete_only_when_every_new_pod_is_ready_and_no_old_one_is_left() -> None:
    full = {"updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2, "replicas": 2}
    assert rollout_complete(deployment(**full))
    assert not rollout_complete(deployment(observed=1, **full))
    assert not rollout_complete(deployment(**{**full, "replicas": 3}))
    stuck = deployment(
        conditions=[
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        ]
    )
    assert deadline_exceeded(stuck) and not deadline_exceeded(deployment())


def pod(ip: str, version: str, ready: bool) -> dict[str, Any]:
    return {
        "metadata": {"name": ip, "labels": {"modelship.io/version": version}},
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": str(ready)}]},
    }


def test_ready_targets_are_the_new_version_ready_pods() -> None:
    pods = [pod("127.1.0.2", "3", True), pod("127.1.0.3", "2", True), pod("127.1.0.4", "3", False)]
    assert ready_targets([PodState.of(p) for p in pods], 3, 8080) == ["http://127.1.0.2:8080"]


def test_resolve_version_names_the_version_or_a_typed_reason() -> None:
    status = ModelStatus.model_validate(
        {
            "latestVersion": {"version": 2, "digest": "d2"},
            "versions": [
                {"version": 3, "digest": "d3", "passedGates": False},
                {"version": 2, "digest": "d2", "passedGates": True},
            ],
        }
    )
    assert resolve_version("latest", status) == VersionRef(version=2, digest="d2")
    assert resolve_version("2", status) == VersionRef(version=2, digest="d2")
    gates = resolve_version("3", status)
    assert isinstance(gates, NoVersion) and gates.reason is Unavailable.GATES_FAILED
    unknown = resolve_version("9", status)
    assert isinstance(unknown, NoVersion) and unknown.reason is Unavailable.UNKNOWN_VERSION
    assert unknown.message == "version 9 is not among the Model's known versions"
    early = resolve_version("latest", ModelStatus())
    assert isinstance(early, NoVersion) and early.reason is Unavailable.NO_VERSION_YET
    assert not early.reason.final and gates.reason.final and unknown.reason.final


def test_approval_gate() -> None:
    tested = TestStageStatus(version=3, digest=DIGEST, passed=True)
    serving = ProductionStatus(version=2, digest="sha256:" + "cd" * 32)
    ok = judge_approval(Approval(version=3, approved_by="jane"), tested, serving, None, 1)
    assert ok.approved and "jane" in ok.message
    assert (
        judge_approval(Approval(version=4), tested, serving, None, 1).reason == "VersionNotTested"
    )
    assert (
        judge_approval(
            Approval(version=3, digest="sha256:" + "00" * 32), tested, serving, None, 1
        ).reason
        == "DigestMismatch"
    )
    failing = tested.model_copy(update={"passed": False})
    assert judge_approval(Approval(version=3), failing, serving, None, 1).reason == "TestNotPassed"
    failed = FailedRollout(version=3, digest=DIGEST, generation=1)
    assert judge_approval(Approval(version=3), tested, serving, failed, 1).reason == "RolloutFailed"
    again = Approval(version=3, approved_by="jane")  # approved_by: the webhook's record
    assert judge_approval(again, tested, serving, failed, 2).approved
    unknown = judge_approval(Approval(version=3), tested, serving, None, 2)
    assert (unknown.approved, unknown.reason) == (False, "ApproverUnknown")
    assert judge_approval(None, tested, serving, None, 1).reason == "AwaitingApproval"


def test_acceptance_result_from_termination_message() -> None:
    done = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    report = '{"passed": true, "samples": 3, "checks": [{"name": "identity", "passed": true}]}'
    pods = [
        {
            "metadata": {"name": "p"},
            "status": {
                "containerStatuses": [{"state": {"terminated": {"exitCode": 0, "message": report}}}]
            },
        }
    ]
    result = acceptance_result(AcceptanceJob.of(done, pods))
    assert not result.running and result.passed and result.report is not None
    assert result.report.samples == 3
    assert acceptance_result(AcceptanceJob.of({"status": {}}, pods)).running
    crashed = [{**pods[0], "status": {"containerStatuses": [
        {"state": {"terminated": {"exitCode": 1, "message": "Traceback: boom"}}}
    ]}}]  # fmt: skip
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True", "message": "x"}]}}
    assert acceptance_result(AcceptanceJob.of(failed, crashed)).error == "Traceback: boom"
    assert acceptance_result(AcceptanceJob.of(failed, [])).error == "x"


def test_acceptance_checks() -> None:
    observed = Observations(
        identities={"a": (3, DIGEST), "b": (2, DIGEST)},
        predictions=[0, 1, 1, 2],
        targets=[0, 1, 2, 2],
        latencies_ms=[5, 6, 7, 100],
    )
    checks = {
        c.name: c
        for c in evaluate(
            AcceptanceSpec(min_accuracy=0.8, max_latency_ms=50),
            "classification",
            3,
            DIGEST,
            observed,
            4,
        )
    }
    assert not checks["identity"].passed and "b serves 2" in checks["identity"].message
    assert checks["accuracy"].value == 0.75 and not checks["accuracy"].passed
    assert checks["latencyP95Ms"].value == 100 and not checks["latencyP95Ms"].passed
    assert checks["requests"].passed
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == 10
    regression = evaluate(
        AcceptanceSpec(metric="rmse", max=1.0),
        "regression",
        3,
        DIGEST,
        Observations(
            identities={"a": (3, DIGEST)},
            predictions=[1.0, 2.0],
            targets=[1.5, 2.5],
            latencies_ms=[1, 1],
        ),
        2,
    )
    assert next(c for c in regression if c.name == "rmse").value == 0.5


def test_a_slow_starting_or_busy_server_is_not_killed_by_its_liveness_probe() -> None:
    """A startup probe holds liveness back while the server loads (a busy node took most of a
    minute), and liveness gives a busy server seconds, not the default one, to answer."""
    body = build_stage_deployment(MDEP, "production", 3, DIGEST, 2, None, OperatorSettings())
    (server,) = body["spec"]["template"]["spec"]["containers"]
    startup, liveness = server["startupProbe"], server["livenessProbe"]
    assert startup["httpGet"] == liveness["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert "initialDelaySeconds" not in liveness  # the startup probe is the delay
    assert liveness["timeoutSeconds"] >= 5
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 30
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
