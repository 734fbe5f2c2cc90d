"""Move a Model version through the test stage, acceptance, approval and production.

Each reconcile looks at what exists (stage Deployments, pods, the acceptance Job) and takes the
next step; nothing is remembered outside the object's status, so restarts lose nothing. Production
is touched only when `judge_approval` says so, and a rollout the Deployment controller gives up on
is reverted to the previous version.
"""

from __future__ import annotations

import copy
from typing import Any

import kopf
from pydantic import ValidationError

from modelship.api.v1alpha1 import (
    PRIMARY_METRIC,
    Deployment,
    utcnow,
)
from modelship.operator import events
from modelship.operator.conditions import set_condition_dict as set_condition
from modelship.operator.kube import (
    APPS_DEPLOYMENTS,
    JOBS,
    MODEL_DEPLOYMENTS,
    MODELS,
    PDBS,
    PDBS_V1,
    PODS,
    SERVICES,
    Kube,
    Resource,
)
from modelship.operator.naming import LABEL_STAGE
from modelship.operator.rollout import (
    acceptance_result,
    auto_approval_rule,
    deadline_exceeded,
    effective_approval,
    judge_approval,
    needs_update,
    pod_trouble,
    ready_targets,
    rollout_complete,
    with_spec_hash,
)
from modelship.operator.serving_builders import (
    LABEL_DEPLOYMENT,
    SERVING_PORT,
    acceptance_job_name,
    build_acceptance_job,
    build_pdb,
    build_stage_deployment,
    build_stage_service,
    stage_name,
    stage_selector,
)
from modelship.operator.settings import OperatorSettings
from modelship.operator.status import first_error, status_patch

Obj = dict[str, Any]
HISTORY_LIMIT = 20
ACTIVE_PHASES = ("Pending", "Testing", "Promoting")


def resolve_version(requested: str, model_status: Obj) -> tuple[int, str] | tuple[None, str]:
    """(version, digest), or (None, why not)."""
    if requested == "latest":
        latest = model_status.get("latestVersion")
        if not latest:
            return None, "the Model has no version that passed its gates yet"
        return int(latest["version"]), str(latest["digest"])
    wanted = int(requested)
    for entry in model_status.get("versions") or []:
        if int(entry.get("version", 0)) == wanted:
            if not entry.get("passedGates"):
                return None, f"version {wanted} failed its quality gates"
            return wanted, str(entry["digest"])
    latest = model_status.get("latestVersion") or {}
    if int(latest.get("version", 0)) == wanted:
        return wanted, str(latest["digest"])
    return None, f"version {wanted} is not among the Model's known versions"


class DeploymentReconciler:
    """One reconcile of one Deployment; holds the status being built and writes it once."""

    def __init__(
        self, kube: Kube, settings: OperatorSettings, body: Obj, logger: kopf.Logger
    ) -> None:
        self.kube, self.settings, self.body, self.logger = kube, settings, body, logger
        self.meta = body["metadata"]
        self.namespace, self.name = self.meta["namespace"], self.meta["name"]
        self.generation = int(self.meta.get("generation") or 1)
        self.old: Obj = body.get("status") or {}
        self.status: Obj = copy.deepcopy(self.old)
        self.conditions: list[Obj] = list(self.old.get("conditions") or [])

    @property
    def pdbs(self) -> Resource:
        return PDBS_V1 if self.kube.served(PDBS_V1) else PDBS

    # -- small helpers -------------------------------------------------------------------------
    def condition(self, type_: str, value: bool | None, reason: str, message: str = "") -> None:
        self.conditions = set_condition(
            self.conditions, type_, value, reason, message, self.generation
        )

    def record(self, event: str, version: int | None, digest: str | None, message: str) -> None:
        entry: Obj = {"event": event, "at": utcnow(), "message": message}
        if version is not None:
            entry["version"] = version
        if digest:
            entry["digest"] = digest
        self.status["history"] = [entry, *(self.status.get("history") or [])][:HISTORY_LIMIT]

    def apply(self, desired: Obj, res: Any = APPS_DEPLOYMENTS) -> Obj:
        """Create the object, or update its spec when our fingerprint of it changed."""
        desired = with_spec_hash(desired)
        current = self.kube.get(res, self.namespace, desired["metadata"]["name"])
        if current is None:
            return self.kube.create(res, self.namespace, desired)
        if needs_update(current, desired):
            return self.kube.patch(
                res,
                self.namespace,
                desired["metadata"]["name"],
                {
                    "metadata": {
                        "annotations": desired["metadata"]["annotations"],
                        "labels": desired["metadata"]["labels"],
                    },
                    "spec": desired["spec"],
                },
            )
        return current

    def write(self) -> bool:
        self.status["conditions"] = self.conditions
        self.status["observedGeneration"] = self.generation
        if self.status == self.old:
            return False
        self.kube.patch(
            MODEL_DEPLOYMENTS,
            self.namespace,
            self.name,
            {"status": status_patch(self.old, self.status)},
            status=True,
        )
        self.body["status"] = self.status
        return True

    # -- the steps -----------------------------------------------------------------------------
    def run(self) -> float | None:
        try:
            mdep = Deployment.model_validate(self.body)
        except ValidationError as exc:
            self.condition("Ready", False, "InvalidSpec", first_error(exc, prefix=""))
            self.status["phase"] = "Failed"
            if self.write():
                events.warning(self.body, "InvalidSpec", first_error(exc, prefix=""))
            return None
        model = self.kube.get(MODELS, self.namespace, mdep.spec.model_ref.name)
        if model is None:
            return self.wait("ModelNotFound", f"waiting for Model {mdep.spec.model_ref.name!r}")
        version, digest_or_reason = resolve_version(mdep.spec.version, model.get("status") or {})
        if version is None:
            return self.wait(
                "VersionUnavailable",
                digest_or_reason,
                failed="failed" in digest_or_reason or "not among" in digest_or_reason,
            )
        digest = digest_or_reason
        task = str(model["spec"].get("task", "classification"))
        self.test_stage(mdep, version, digest, task)
        self.production_stage(mdep, model)
        self.summarise()
        self.write()
        return self.settings.resync_seconds if self.status.get("phase") in ACTIVE_PHASES else None

    def wait(self, reason: str, message: str, failed: bool = False) -> float | None:
        self.condition("TestPassed", None if not failed else False, reason, message)
        self.status["phase"] = (
            "Failed"
            if failed
            else (
                "Pending"
                if not self.status.get("production")
                else self.status.get("phase", "Serving")
            )
        )
        if not self.status.get("production"):
            self.condition("Ready", False, reason, message)
        if self.write():
            (events.warning if failed else events.normal)(self.body, reason, message)
        return self.settings.resync_seconds * 3

    def test_stage(self, mdep: Deployment, version: int, digest: str, task: str) -> None:
        self.apply(build_stage_service(self.body, "test"), SERVICES)
        desired = build_stage_deployment(
            self.body,
            "test",
            version,
            digest,
            mdep.spec.test.replicas,
            mdep.spec.production.resources,
            self.settings,
        )
        deployment = self.apply(desired)
        test = dict(self.status.get("test") or {})
        if test.get("version") != version or test.get("digest") != digest:
            test = {"version": version, "digest": digest, "service": stage_name(self.name, "test")}
            self.condition("TestPassed", None, "Testing", f"testing version {version}")
            self.record("Testing", version, digest, "rolled to the test stage")
            events.normal(self.body, "Testing", f"version {version} rolled to the test stage")
        self.status["test"] = test
        if test.get("passed") is not None:
            return
        pods = self.kube.list(PODS, self.namespace, stage_selector(self.name, "test"))
        if not rollout_complete(deployment):
            if deadline_exceeded(deployment):
                trouble = pod_trouble(pods) or "pods never became ready"
                self.fail_test(test, "TestStageNotReady", f"version {version}: {trouble}")
            else:
                self.condition(
                    "TestPassed",
                    None,
                    "Testing",
                    f"waiting for the test stage of version {version} to be ready",
                )
            return
        targets = ready_targets(pods, version, SERVING_PORT)
        if len(targets) < mdep.spec.test.replicas:
            return
        job_name = acceptance_job_name(self.name, version, digest)
        job = self.kube.get(JOBS, self.namespace, job_name)
        if job is None:
            self.kube.create(
                JOBS,
                self.namespace,
                build_acceptance_job(
                    self.body,
                    version,
                    digest,
                    targets,
                    mdep.spec.test.acceptance,
                    task,
                    self.settings,
                ),
            )
            self.condition(
                "TestPassed",
                None,
                "AcceptanceRunning",
                f"acceptance checks of version {version} are running",
            )
            return
        result = acceptance_result(
            job, self.kube.list(PODS, self.namespace, {"job-name": job_name})
        )
        if result.state == "running":
            return
        if result.error:
            self.fail_test(test, "AcceptanceError", f"version {version}: {result.error}")
            return
        test["report"] = {
            k: result.report[k] for k in ("checkedAt", "samples", "checks") if k in result.report
        }
        test["passed"] = result.passed
        failed = [c for c in result.report.get("checks", []) if not c.get("passed")]
        if result.passed:
            self.condition(
                "TestPassed",
                True,
                "AcceptancePassed",
                f"version {version} passed {len(result.report.get('checks', []))} checks",
            )
            self.record("TestPassed", version, digest, "acceptance passed")
            events.normal(self.body, "TestPassed", f"version {version} passed acceptance")
        else:
            detail = "; ".join(c.get("message") or c.get("name", "") for c in failed)
            self.fail_test(test, "AcceptanceFailed", f"version {version}: {detail}")

    def fail_test(self, test: Obj, reason: str, message: str) -> None:
        test["passed"] = False
        self.status["test"] = test
        self.condition("TestPassed", False, reason, message)
        self.record("TestFailed", test.get("version"), test.get("digest"), message)
        events.warning(self.body, reason, message)

    def production_stage(self, mdep: Deployment, model: Obj) -> None:
        test = self.status.get("test") or {}
        production = dict(self.status.get("production") or {})
        self.auto_approve(mdep, model, test, production)
        approval = effective_approval(mdep.spec.approval, self.status.get("autoApproval"))
        verdict = judge_approval(
            approval, test, production, self.status.get("failedRollout"), self.generation
        )
        self.condition("Approved", verdict.approved, verdict.reason, verdict.message)
        if (
            verdict.approved
            and approval is not None
            and production.get("version") != approval.version
        ):
            previous = (
                {"version": production["version"], "digest": production["digest"]}
                if production.get("version") is not None
                else None
            )
            if previous:
                self.status["previous"] = previous
            production = {
                "version": approval.version,
                "digest": test["digest"],
                "service": self.name,
                "readyReplicas": 0,
            }
            if approval.approved_by:
                production["approvedBy"] = approval.approved_by
            self.record("Promoting", approval.version, test["digest"], verdict.message)
            events.normal(
                self.body, "Promoting", f"promoting version {approval.version}: {verdict.message}"
            )
        if production.get("version") is None:
            self.status.pop("production", None)
            return
        self.apply(build_stage_service(self.body, "production"), SERVICES)
        replicas = mdep.spec.production.replicas
        if replicas > 1:
            self.apply(build_pdb(self.body, self.pdbs.api_version), self.pdbs)
        else:
            self.kube.delete(self.pdbs, self.namespace, self.name)
        deployment = self.apply(
            build_stage_deployment(
                self.body,
                "production",
                int(production["version"]),
                str(production["digest"]),
                replicas,
                mdep.spec.production.resources,
                self.settings,
            )
        )
        production["readyReplicas"] = int((deployment.get("status") or {}).get("readyReplicas", 0))
        if rollout_complete(deployment):
            if not production.get("promotedAt"):
                production["promotedAt"] = utcnow()
                self.record(
                    "Promoted",
                    production["version"],
                    production["digest"],
                    "production rollout complete",
                )
                events.normal(
                    self.body, "Promoted", f"version {production['version']} serves production"
                )
                self.condition(
                    "RolledBack", False, "Promoted", f"version {production['version']} promoted"
                )
        elif deadline_exceeded(deployment) and not production.get("promotedAt"):
            production = self.roll_back(mdep, production, deployment)
        self.status["production"] = production

    def auto_approve(self, mdep: Deployment, model: Obj, test: Obj, production: Obj) -> None:
        """Record an automatic approval when the autoApprove rule holds; spec stays the user's."""
        policy = mdep.spec.auto_approve
        if policy is None or not policy.enabled or not test.get("passed"):
            return
        version, digest = test.get("version"), test.get("digest")
        recorded = self.status.get("autoApproval") or {}
        if recorded.get("version") == version and recorded.get("digest") == digest:
            return
        task = str(model["spec"].get("task", "classification"))
        metric = policy.metric or PRIMARY_METRIC[task]
        rule = auto_approval_rule(
            metric, version, production, (model.get("status") or {}).get("versions") or []
        )
        if rule is None:
            return
        failed = self.status.get("failedRollout") or {}
        if failed.get("version") == version and failed.get("digest") == digest:
            return  # it already failed in production once; only a person may try again
        self.status["autoApproval"] = {
            "version": version,
            "digest": digest,
            "rule": rule,
            "at": utcnow(),
        }
        self.record("AutoApproved", version, digest, rule)
        events.normal(self.body, "AutoApproved", f"version {version}: {rule}")

    def roll_back(self, mdep: Deployment, failed: Obj, deployment: Obj) -> Obj:
        pods = self.kube.list(PODS, self.namespace, stage_selector(self.name, "production"))
        why = (
            pod_trouble(
                [
                    p
                    for p in pods
                    if p["metadata"]["labels"].get("modelship.io/version") == str(failed["version"])
                ]
            )
            or "the rollout missed its progress deadline"
        )
        self.status["failedRollout"] = {
            "version": failed["version"],
            "digest": failed["digest"],
            "generation": self.generation,
            "reason": why,
        }
        previous = self.status.get("previous")
        message = f"version {failed['version']} did not become ready ({why})"
        if previous:
            message += f"; reverted to version {previous['version']}"
            restored = {
                "version": previous["version"],
                "digest": previous["digest"],
                "service": self.name,
                "readyReplicas": 0,
                "promotedAt": utcnow(),
            }
            self.apply(
                build_stage_deployment(
                    self.body,
                    "production",
                    int(previous["version"]),
                    str(previous["digest"]),
                    mdep.spec.production.replicas,
                    mdep.spec.production.resources,
                    self.settings,
                )
            )
        else:
            message += "; no previous version, production removed"
            self.kube.delete(APPS_DEPLOYMENTS, self.namespace, self.name)
            restored = {}
        self.condition("RolledBack", True, "ProgressDeadlineExceeded", message)
        self.record("RolledBack", failed["version"], failed["digest"], message)
        events.warning(self.body, "RolledBack", message)
        return restored

    def summarise(self) -> None:
        test = self.status.get("test") or {}
        production = self.status.get("production") or {}
        serving = production.get("version") is not None and production.get("promotedAt")
        if serving:
            self.condition(
                "Ready",
                True,
                "Serving",
                f"version {production['version']} serves production "
                f"({production.get('readyReplicas', 0)} ready)",
            )
        else:
            self.condition("Ready", False, "NotServing", "production has no ready version yet")
        if production.get("version") is not None and not production.get("promotedAt"):
            phase = "Promoting"
        elif test.get("passed") is None:
            phase = "Testing"
        elif test.get("passed") is False:
            phase = "Failed"
        elif production.get("version") == test.get("version"):
            phase = "Serving"
        else:
            phase = "AwaitingApproval"
        self.status["phase"] = phase


def deployments_of_model(kube: Kube, namespace: str, model: str) -> list[str]:
    return [
        d["metadata"]["name"]
        for d in kube.list(MODEL_DEPLOYMENTS, namespace)
        if d.get("spec", {}).get("modelRef", {}).get("name") == model
    ]


def owner_deployment(labels: dict[str, str]) -> str | None:
    return labels.get(LABEL_DEPLOYMENT) if labels.get(LABEL_STAGE) else None
