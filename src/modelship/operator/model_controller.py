"""Keep each Model trained: decide when a TrainingJob is needed and summarise what they produced.

The decision is level-triggered and idempotent: it compares the Model (generation, retrain
annotation) with the TrainingJobs that exist, so running it twice, or after a crash, makes the
same decision. Training requests that arrive while a TrainingJob runs are left unacknowledged
(`observedGeneration` stays behind) and picked up when it finishes: queued, never lost.

Automatic triggers (drift recorded by the Model's production Deployments, a schedule, a changed
dataset) are decided by the pure `retraining.plan` from the same observed state plus
`status.retraining`; every decision, to train or not, lands there, and an Event is posted only
when the decision changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from modelship.api.v1alpha1 import ModelSpec, TrainingSnapshot, utcnow
from modelship.operator import events
from modelship.operator.conditions import set_condition_dict as set_condition
from modelship.operator.dataset_probe import DatasetProbe
from modelship.operator.kube import MODEL_DEPLOYMENTS, MODELS, PVCS, TRAINING_JOBS, Kube
from modelship.operator.naming import LABEL_MODEL, RETRAIN_ANNOTATION
from modelship.operator.retraining import (
    TrainingRequest,
    has_policy,
    next_dataset_state,
    plan,
    record_training,
)
from modelship.operator.settings import OperatorSettings
from modelship.operator.status import first_error, status_patch
from modelship.operator.training_builders import build_catalog_claim, build_training_job
from modelship.operator.trainingjob_controller import TERMINAL

Obj = dict[str, Any]

__all__ = ["TrainingRequest", "reconcile_model", "training_requests"]


def owned_training_jobs(kube: Kube, body: Obj) -> list[Obj]:
    meta = body["metadata"]
    uid = meta.get("uid")
    return [
        tj
        for tj in kube.list(TRAINING_JOBS, meta["namespace"], {LABEL_MODEL: meta["name"]})
        if any(ref.get("uid") == uid for ref in tj["metadata"].get("ownerReferences", []))
    ]


def _snapshot_of(tj: Obj) -> Obj | None:
    try:
        return TrainingSnapshot.model_validate(tj["spec"]["snapshot"]).to_wire()
    except (ValidationError, KeyError):
        return None


def training_requests(body: Obj, spec: ModelSpec, tjs: list[Obj]) -> list[TrainingRequest]:
    """What asks for a new TrainingJob right now (pure)."""
    meta, status = body["metadata"], body.get("status") or {}
    generation = int(meta.get("generation") or 1)
    requests: list[TrainingRequest] = []
    if status.get("observedGeneration") != generation:
        newest = max(tjs, key=lambda t: int(t["spec"].get("modelGeneration", 0)), default=None)
        if newest is None:
            requests.append(
                TrainingRequest("spec-change", str(generation), "first version of the model")
            )
        elif (
            spec.retraining.on_spec_change
            and int(newest["spec"].get("modelGeneration", 0)) < generation
            and _snapshot_of(newest) != spec.snapshot().to_wire()
        ):
            requests.append(
                TrainingRequest(
                    "spec-change",
                    str(generation),
                    f"training spec changed (generation {generation})",
                )
            )
    annotation = (meta.get("annotations") or {}).get(RETRAIN_ANNOTATION)
    if annotation and annotation != status.get("retrainAnnotation"):
        requests.append(TrainingRequest("manual", annotation, f"{RETRAIN_ANNOTATION}={annotation}"))
    return requests


def version_summaries(tjs: list[Obj], known: list[Obj], limit: int) -> list[Obj]:
    """Versions from finished TrainingJobs merged with those already in status, newest first."""
    by_version = {int(v["version"]): v for v in known if v.get("version") is not None}
    for tj in tjs:
        st = tj.get("status") or {}
        if st.get("phase") != "Succeeded" or st.get("version") is None:
            continue
        summary: Obj = {
            "version": int(st["version"]),
            "digest": (st.get("artifact") or {}).get("digest", ""),
            "metrics": st.get("metrics") or {},
            "trainingJob": tj["metadata"]["name"],
            "passedGates": all(g.get("passed") for g in st.get("gates") or []),
            "createdAt": st.get("completionTime"),
        }
        if st.get("score"):
            summary["score"] = st["score"]
        if st.get("datasetDigest"):
            summary["datasetDigest"] = st["datasetDigest"]
        by_version[summary["version"]] = summary
    return [by_version[v] for v in sorted(by_version, reverse=True)][:limit]


def _newest_finished(tjs: list[Obj]) -> Obj | None:
    finished = [t for t in tjs if (t.get("status") or {}).get("phase") in TERMINAL]
    return max(finished, key=lambda t: t["metadata"].get("creationTimestamp", ""), default=None)


def reconcile_model(
    kube: Kube,
    settings: OperatorSettings,
    body: Obj,
    logger: kopf.Logger,
    probe: DatasetProbe | None = None,
) -> None:
    meta = body["metadata"]
    namespace = meta["namespace"]
    generation = int(meta.get("generation") or 1)
    old: Obj = body.get("status") or {}
    status: Obj = {k: v for k, v in old.items()}
    try:
        spec = ModelSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        message = first_error(exc)
        status.update(observedGeneration=generation, phase="Failed")
        status["conditions"] = set_condition(
            old.get("conditions", []), "Ready", False, "InvalidSpec", message, generation
        )
        if _write(kube, body, old, status):
            events.warning(body, "InvalidSpec", message)
        return

    kube.ensure(PVCS, namespace, build_catalog_claim(namespace, settings))
    tjs = owned_training_jobs(kube, body)
    active = [t for t in tjs if (t.get("status") or {}).get("phase") not in TERMINAL]
    requests = training_requests(body, spec, tjs)
    trained_now = False
    if requests and active:
        status["pendingTrigger"] = requests[0].trigger
    elif requests:
        first = requests[0]
        key = first.key if first.trigger != "spec-change" else str(generation)
        reason = "; ".join(r.reason for r in requests)
        created_tj, created = kube.ensure(
            TRAINING_JOBS, namespace, build_training_job(body, spec, first.trigger, reason, key)
        )
        if created:
            events.normal(
                body,
                "TrainingRequested",
                f"{created_tj['metadata']['name']} ({first.trigger}): {reason}",
            )
            logger.info("created TrainingJob %s (%s)", created_tj["metadata"]["name"], reason)
        active = [created_tj]
        tjs = [*tjs, created_tj] if created else tjs
        trained_now = created
        status.update(
            observedGeneration=generation,
            lastTrainingTime=status.get("lastTrainingTime") if not created else utcnow(),
        )
        annotation = (meta.get("annotations") or {}).get(RETRAIN_ANNOTATION)
        if annotation:
            status["retrainAnnotation"] = annotation
        status.pop("pendingTrigger", None)
    else:
        status["observedGeneration"] = generation
        status.pop("pendingTrigger", None)

    if has_policy(spec.retraining):
        tjs, active = _automatic(kube, body, spec, status, tjs, active, probe, trained_now, logger)
    else:
        status.pop("retraining", None)
        status["conditions"] = [
            c for c in status.get("conditions") or [] if c.get("type") != RETRAINING_CONDITION
        ]

    _summarise(status, old, tjs, active, settings, generation)
    if _write(kube, body, old, status):
        latest_old = (old.get("latestVersion") or {}).get("version")
        latest_new = (status.get("latestVersion") or {}).get("version")
        if latest_new is not None and latest_new != latest_old:
            events.normal(
                body,
                "VersionAvailable",
                f"version {latest_new} ({status['latestVersion'].get('score', '')}) passed gates",
            )
    _prune_history(kube, tjs, active, spec.retraining.history_limit, logger)


RETRAINING_CONDITION = "RetrainingPolicyValid"


def _automatic(
    kube: Kube,
    body: Obj,
    spec: ModelSpec,
    status: Obj,
    tjs: list[Obj],
    active: list[Obj],
    probe: DatasetProbe | None,
    trained_now: bool,
    logger: kopf.Logger,
) -> tuple[list[Obj], list[Obj]]:
    """Drift, schedule and dataset change: decide, create at most one TrainingJob, say why."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    now = datetime.now(UTC)
    previous: Obj = dict(status.get("retraining") or {})
    deployments = (
        [
            d
            for d in kube.list(MODEL_DEPLOYMENTS, namespace)
            if (d.get("spec") or {}).get("modelRef", {}).get("name") == name
        ]
        if spec.retraining.drift is not None
        else []
    )
    dataset = None
    if spec.retraining.on_dataset_change:
        checked = probe.check((namespace, name), spec.dataset.uri) if probe else None
        dataset = next_dataset_state(previous.get("dataset"), spec.dataset.uri, checked, now)
        if trained_now and dataset.get("validator"):
            dataset["trainedValidator"] = dataset["validator"]
    running = active[0]["metadata"]["name"] if active else None
    decision, state = plan(name, spec, previous, tjs, running, deployments, dataset, now)
    request = decision.request
    if request is not None:
        tj, created = kube.ensure(
            TRAINING_JOBS,
            namespace,
            build_training_job(body, spec, request.trigger, request.reason, request.key),
        )
        tj_name = tj["metadata"]["name"]
        state = record_training(
            state,
            request,
            tj_name,
            str(tj["metadata"].get("creationTimestamp") or utcnow()),
            spec.retraining,
        )
        if state.get("dataset", {}).get("validator"):
            state["dataset"]["trainedValidator"] = state["dataset"]["validator"]
        state["message"] = f"{tj_name}: {decision.message}"
        if created:
            logger.info("created TrainingJob %s (%s)", tj_name, request.reason)
            tjs = [*tjs, tj]
            status["lastTrainingTime"] = utcnow()
        active = [tj]
    status["retraining"] = state
    conditions = status.get("conditions") or []
    if decision.problems:
        conditions = set_condition(
            conditions, RETRAINING_CONDITION, False, "InvalidSchedule", "; ".join(decision.problems)
        )
    else:
        conditions = set_condition(
            conditions, RETRAINING_CONDITION, True, "PolicyValid", _policy_summary(spec)
        )
    status["conditions"] = conditions
    key = (decision.decision, decision.reason, decision.trigger)
    if key != (previous.get("decision"), previous.get("reason"), previous.get("trigger")):
        post = events.warning if decision.decision == "Invalid" else events.normal
        post(body, f"Retraining{decision.decision}", state["message"][:1000])
    return tjs, active


def _policy_summary(spec: ModelSpec) -> str:
    policy = spec.retraining
    parts = []
    if policy.drift is not None:
        parts.append(f"drift above {policy.drift.threshold:g} ({policy.drift.aggregate} PSI)")
    if policy.schedule:
        parts.append(f"schedule {policy.schedule}")
    if policy.on_dataset_change:
        parts.append("dataset change")
    return (
        f"retrains on {', '.join(parts)}; cooldown {policy.cooldown_seconds}s, "
        f"at most {policy.max_per_day} a day"
    )


def _summarise(
    status: Obj,
    old: Obj,
    tjs: list[Obj],
    active: list[Obj],
    settings: OperatorSettings,
    generation: int,
) -> None:
    versions = version_summaries(tjs, old.get("versions") or [], settings.versions_in_status)
    status["versions"] = versions
    passed = [v for v in versions if v.get("passedGates")]
    if passed:
        status["latestVersion"] = passed[0]
    conditions = list(old.get("conditions") or [])
    if active:
        running = active[0]["metadata"]["name"]
        status["activeTrainingJob"] = running
        conditions = set_condition(
            conditions, "Training", True, "TrainingJobActive", running, generation
        )
    else:
        status.pop("activeTrainingJob", None)
        conditions = set_condition(conditions, "Training", False, "Idle", "", generation)
    newest = _newest_finished(tjs)
    if newest is not None:
        st = newest.get("status") or {}
        tj_name = newest["metadata"]["name"]
        if st.get("phase") == "Failed":
            failure = st.get("failure") or {}
            conditions = set_condition(
                conditions,
                "Trained",
                False,
                failure.get("reason", "TrainingFailed"),
                f"{tj_name}: {failure.get('message', '')}",
                generation,
            )
        else:
            failed = [g for g in st.get("gates") or [] if not g.get("passed")]
            if failed:
                detail = "; ".join(
                    f"{g['metric']} {g.get('value')} is not {g.get('bound')}" for g in failed
                )
                conditions = set_condition(
                    conditions,
                    "Trained",
                    False,
                    "GateFailed",
                    f"{tj_name}: version {st.get('version')}: {detail}",
                    generation,
                )
            else:
                conditions = set_condition(
                    conditions,
                    "Trained",
                    True,
                    "VersionPublished",
                    f"{tj_name}: version {st.get('version')}",
                    generation,
                )
    latest = status.get("latestVersion")
    if latest:
        conditions = set_condition(
            conditions,
            "Ready",
            True,
            "VersionAvailable",
            f"version {latest['version']} ({latest.get('score', '')})",
            generation,
        )
        phase = "Training" if active else "Ready"
    elif active:
        conditions = set_condition(
            conditions, "Ready", False, "Training", "the first version is being trained", generation
        )
        phase = "Training"
    else:
        trained = next((c for c in conditions if c["type"] == "Trained"), None)
        reason = trained["reason"] if trained else "NoVersion"
        message = trained["message"] if trained else "no version has passed its gates yet"
        conditions = set_condition(conditions, "Ready", False, reason, message, generation)
        phase = "Failed" if trained else "Pending"
    status["conditions"] = conditions
    status["phase"] = phase


def _write(kube: Kube, body: Obj, old: Obj, status: Obj) -> bool:
    if status == old:
        return False
    meta = body["metadata"]
    kube.patch(
        MODELS, meta["namespace"], meta["name"], {"status": status_patch(old, status)}, status=True
    )
    body["status"] = status
    return True


def _prune_history(
    kube: Kube, tjs: list[Obj], active: list[Obj], limit: int, logger: kopf.Logger
) -> None:
    active_names = {t["metadata"]["name"] for t in active}
    finished = sorted(
        (
            t
            for t in tjs
            if t["metadata"]["name"] not in active_names
            and (t.get("status") or {}).get("phase") in TERMINAL
        ),
        key=lambda t: t["metadata"].get("creationTimestamp", ""),
    )
    for tj in finished[: max(0, len(finished) - limit)]:
        if kube.delete(TRAINING_JOBS, tj["metadata"]["namespace"], tj["metadata"]["name"]):
            logger.info("deleted TrainingJob %s (history limit %d)", tj["metadata"]["name"], limit)
