"""Decide the test stage: roll the version out, wait until it is ready, run acceptance, record.

The verdict is reached once per version and digest and then kept: a passed or failed test stage
is never re-run for the same version, so resyncs cost nothing and the report stays stable.
"""

from __future__ import annotations

from modelship.api.v1alpha1 import Task, TestStageStatus, VersionRef
from modelship.operator.deployment.actions import Draft
from modelship.operator.deployment.builders.acceptance import build_acceptance_job
from modelship.operator.deployment.builders.stages import (
    SERVING_PORT,
    build_stage_deployment,
    build_stage_service,
    stage_name,
)
from modelship.operator.deployment.observation import Observation, Subject
from modelship.operator.deployment.rollout import acceptance_result, pod_trouble, ready_targets
from modelship.operator.kube.actions import CreateJob
from modelship.operator.kube.resources import APPS_DEPLOYMENTS, SERVICES
from modelship.operator.settings import OperatorSettings


def decide_test_stage(
    draft: Draft,
    subject: Subject,
    seen: Observation,
    target: VersionRef,
    task: Task,
    settings: OperatorSettings,
) -> None:
    mdep = subject.mdep
    assert mdep is not None
    version, digest = target.version, target.digest
    draft.apply(SERVICES, build_stage_service(subject.body, "test"), seen.test.service)
    desired = build_stage_deployment(
        subject.body,
        "test",
        version,
        digest,
        mdep.spec.test.replicas,
        mdep.spec.production.resources,
        settings,
        artifact=target.artifact,
        monitoring=seen.model.monitoring if seen.model is not None else None,
    )
    written = draft.apply(APPS_DEPLOYMENTS, desired, seen.test.deployment)
    test = draft.status.test
    if test is None or test.version != version or test.digest != digest:
        test = TestStageStatus(
            version=version,
            digest=digest,
            artifact=target.artifact,
            service=stage_name(subject.name, "test"),
        )
        draft.condition("TestPassed", None, "Testing", f"testing version {version}")
        draft.record("Testing", version, digest, "rolled to the test stage")
        draft.event("Testing", f"version {version} rolled to the test stage")
    draft.status.test = test
    if test.passed is not None:
        return
    rollout = None if written else seen.test.deployment
    if rollout is None or not rollout.complete:
        if rollout is not None and rollout.deadline_exceeded:
            trouble = pod_trouble(seen.test.pods) or "pods never became ready"
            fail_test(draft, test, "TestStageNotReady", f"version {version}: {trouble}")
        else:
            draft.condition(
                "TestPassed",
                None,
                "Testing",
                f"waiting for the test stage of version {version} to be ready",
            )
        return
    targets = ready_targets(seen.test.pods, version, SERVING_PORT)
    if len(targets) < mdep.spec.test.replicas:
        return
    if seen.acceptance is None:
        job = build_acceptance_job(
            subject.body,
            version,
            digest,
            targets,
            mdep.spec.test.acceptance,
            task,
            settings,
            artifact=target.artifact,
        )
        draft.actions.append(CreateJob(job))
        draft.condition(
            "TestPassed",
            None,
            "AcceptanceRunning",
            f"acceptance checks of version {version} are running",
        )
        return
    result = acceptance_result(seen.acceptance)
    if result.running:
        return
    if result.report is None:
        fail_test(draft, test, "AcceptanceError", f"version {version}: {result.error}")
        return
    checks = result.report.checks or []
    test.report = result.report.to_status()
    test.passed = result.passed
    if result.passed:
        draft.condition(
            "TestPassed", True, "AcceptancePassed", f"version {version} passed {len(checks)} checks"
        )
        draft.record("TestPassed", version, digest, "acceptance passed")
        draft.event("TestPassed", f"version {version} passed acceptance")
    else:
        detail = "; ".join(c.message or c.name for c in checks if not c.passed)
        fail_test(draft, test, "AcceptanceFailed", f"version {version}: {detail}")


def fail_test(draft: Draft, test: TestStageStatus, reason: str, message: str) -> None:
    test.passed = False
    draft.status.test = test
    draft.condition("TestPassed", False, reason, message)
    draft.record("TestFailed", test.version, test.digest, message)
    draft.event(reason, message, warning=True)
