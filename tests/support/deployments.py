"""Factories for the Deployment controller's unit tests: bodies, Models, observations.

A child "up to date" is one whose applied spec hash is the one the builders give for what the
decision wants, so the factories compute hashes with the real builders.
"""

from __future__ import annotations

import copy
from typing import Any

from modelship.api.v1alpha1 import ModelStatus, Task, VersionSummary
from modelship.contracts.acceptance import AcceptanceJobReport
from modelship.contracts.approval import ApproverIdentity, fingerprint
from modelship.contracts.serving import Stage as StageName
from modelship.operator.deployment.actions import Action, ApplyChild, DeleteChild
from modelship.operator.deployment.builders.stages import (
    build_pdb,
    build_stage_deployment,
    build_stage_service,
)
from modelship.operator.deployment.observation import ModelView, Observation, Stage, Subject
from modelship.operator.deployment.rollout import (
    AcceptanceJob,
    Applied,
    PodState,
    StageRollout,
    spec_hash,
)
from modelship.operator.kube.actions import CreateJob, PostEvent
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS
from modelship.operator.settings import OperatorSettings
from support.fake_kube import FakeKube

Obj = dict[str, Any]
NOW = "2025-03-01T12:00:00Z"
LATER = "2025-03-01T12:05:00Z"
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
DIGESTS = {1: D1, 2: D2, 3: D3}
SETTINGS = OperatorSettings()


def approved_by(approver: str, approval: Obj) -> dict[str, str]:
    """The annotations the admission webhook writes when `approver` sets `approval`."""
    return ApproverIdentity(
        user=approver, groups=("approvers",), at=NOW, of=fingerprint(approval)
    ).annotations()


def body(
    status: Obj | None = None, generation: int = 1, approver: str | None = "jane", **spec: Any
) -> Obj:
    """A Deployment `iris` in `ml` deploying Model `iris`: one test pod, two production pods.
    An approval in `spec` carries the webhook's record of `approver` (None: no record)."""
    approval = spec.get("approval")
    annotations = approved_by(approver, approval) if approval and approver else {}
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "Deployment",
        "metadata": {
            "name": "iris",
            "namespace": "ml",
            "uid": "mdep-1",
            "generation": generation,
            "annotations": annotations,
        },
        "spec": {
            "modelRef": {"name": "iris"},
            "test": {"replicas": 1, "acceptance": {"minAccuracy": 0.8}},
            "production": {"replicas": 2},
            **spec,
        },
        "status": copy.deepcopy(status or {}),
    }


def subject(
    status: Obj | None = None, generation: int = 1, approver: str | None = "jane", **spec: Any
) -> Subject:
    return Subject.parse(body(status, generation, approver, **spec))


def model(*versions: tuple[int, bool, float], task: Task = "classification") -> ModelView:
    """A Model with (version, passed gates, accuracy) entries; the newest passing is latest."""
    summaries = [
        VersionSummary(version=v, digest=DIGESTS[v], passed_gates=ok, metrics={"accuracy": acc})
        for v, ok, acc in versions
    ]
    passing = [s for s in summaries if s.passed_gates]
    latest = max(passing, key=lambda s: s.version) if passing else None
    return ModelView(task=task, status=ModelStatus(latest_version=latest, versions=summaries))


def _hash(obj: Obj) -> str:
    return spec_hash(obj)


def stage_hash(stage: StageName, version: int, replicas: int | None = None) -> str:
    count = replicas if replicas is not None else (1 if stage == "test" else 2)
    return _hash(
        build_stage_deployment(
            body(),
            stage,
            version,
            DIGESTS[version],
            count,
            None,
            SETTINGS,
        )
    )


def service(stage: StageName) -> Applied:
    return Applied(_hash(build_stage_service(body(), stage)))


def pdb() -> Applied:
    return Applied(_hash(build_pdb(body())))


def rollout(
    stage: StageName,
    version: int,
    complete: bool = True,
    deadline: bool = False,
    ready: int | None = None,
) -> StageRollout:
    wanted = 1 if stage == "test" else 2
    return StageRollout(
        stage_hash(stage, version),
        complete=complete,
        deadline_exceeded=deadline,
        ready_replicas=ready if ready is not None else (wanted if complete else 0),
    )


def pod(name: str, version: int, ready: bool = True, trouble: str = "") -> PodState:
    ip = f"127.1.0.{len(name)}"
    return PodState(name=name, version=str(version), ready=ready, ip=ip, trouble=trouble)


def accepted(passed: bool = True, error: str | None = None) -> AcceptanceJob:
    """A finished acceptance Job with its report (or its error)."""
    if error is not None:
        return AcceptanceJob(
            finished=True, complete=False, report=AcceptanceJobReport(passed=False, error=error)
        )
    checks = [
        {"name": "identity", "passed": True},
        {"name": "accuracy", "passed": passed, "value": 0.9 if passed else 0.5,
         "message": "" if passed else "accuracy 0.5 is not >= 0.8"},
    ]  # fmt: skip
    report = AcceptanceJobReport.model_validate(
        {"passed": passed, "checkedAt": NOW, "samples": 30, "checks": checks}
    )
    return AcceptanceJob(finished=True, complete=True, report=report)


def ready_test_stage(version: int) -> Stage:
    """A test stage of `version`, rolled out and ready."""
    return Stage(service("test"), rollout("test", version), [pod("t1", version)])


def serving_stage(version: int, **rolled: Any) -> Stage:
    return Stage(service("production"), rollout("production", version, **rolled), [])


def observation(**parts: Any) -> Observation:
    return Observation(**{"model": model((1, True, 0.9)), **parts})


def kinds(actions: list[Action]) -> list[str]:
    """Actions as short strings (`create services/iris-test`, `event Testing`), writes first and
    Events after them, in the order `apply` performs them."""
    out, posted = [], []
    for action in actions:
        if isinstance(action, ApplyChild):
            verb = "patch" if action.exists else "create"
            out.append(f"{verb} {action.resource.plural}/{action.name}")
        elif isinstance(action, DeleteChild):
            out.append(f"delete {action.resource.plural}/{action.name}")
        elif isinstance(action, CreateJob):
            out.append(f"job {action.body['metadata']['name']}")
        elif isinstance(action, PostEvent):
            posted.append(f"{'warning' if action.type == 'Warning' else 'event'} {action.reason}")
    return out + posted


def cluster() -> FakeKube:
    """A fake API server holding Model `iris` (version 1 passed its gates) and Deployment `iris`."""
    kube = FakeKube()
    latest = {"version": 1, "digest": D1, "passedGates": True, "metrics": {"accuracy": 0.9}}
    kube.put(
        MODELS,
        {
            "metadata": {"name": "iris", "namespace": "ml"},
            "spec": {"task": "classification"},
            "status": {"latestVersion": latest, "versions": [latest]},
        },
    )
    kube.put(MODEL_DEPLOYMENTS, body())
    return kube
