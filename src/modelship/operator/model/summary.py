"""What a Model's status says about its TrainingJobs: versions, the latest usable one, conditions.

Pure: the Model decision calls `summarise` with the TrainingJobs it observed (and any it is about to
create) and gets the status fields a user reads with `kubectl get mdl`.
"""

from __future__ import annotations

from modelship.api.v1alpha1 import Condition, ModelSpec, ModelStatus, VersionSummary
from modelship.operator.kube.conditions import get_condition, set_condition
from modelship.operator.model.observation import TERMINAL, ObservedTrainingJob


def version_summaries(
    tjs: list[ObservedTrainingJob], known: list[VersionSummary], limit: int
) -> list[VersionSummary]:
    """Versions from finished TrainingJobs merged with those already in status, newest first."""
    by_version = {v.version: v for v in known}
    for tj in tjs:
        st = tj.status
        if st.phase != "Succeeded" or st.version is None:
            continue
        by_version[st.version] = VersionSummary(
            version=st.version,
            digest=st.artifact.digest if st.artifact is not None else "",
            artifact=st.artifact.uri if st.artifact is not None else None,
            metrics=dict(st.metrics),
            training_job=tj.name,
            passed_gates=all(g.passed for g in st.gates),
            created_at=st.completion_time,
            score=st.score or None,
            dataset_digest=st.dataset_digest or None,
            code_digest=st.code_digest or None,
        )
    return [by_version[v] for v in sorted(by_version, reverse=True)][:limit]


def newest_finished(tjs: list[ObservedTrainingJob]) -> ObservedTrainingJob | None:
    finished = [t for t in tjs if t.status.phase in TERMINAL]
    return max(finished, key=lambda t: t.created, default=None)


def summarise(
    status: ModelStatus,
    old: ModelStatus,
    tjs: list[ObservedTrainingJob],
    active: list[ObservedTrainingJob],
    versions_in_status: int,
    generation: int,
    now: str,
) -> None:
    """Fill versions, latestVersion, activeTrainingJob, the conditions and the phase of `status`."""
    status.versions = version_summaries(tjs, old.versions, versions_in_status)
    passed = [v for v in status.versions if v.passed_gates]
    if passed:
        status.latest_version = passed[0]
    conditions = list(status.conditions)
    if active:
        status.active_training_job = active[0].name
        conditions = set_condition(
            conditions, "Training", True, "TrainingJobActive", active[0].name, generation, now
        )
    else:
        status.active_training_job = None
        conditions = set_condition(conditions, "Training", False, "Idle", "", generation, now)
    newest = newest_finished(tjs)
    if newest is not None:
        conditions = _trained(conditions, newest, generation, now)
    latest = status.latest_version
    if latest is not None:
        conditions = set_condition(
            conditions,
            "Ready",
            True,
            "VersionAvailable",
            f"version {latest.version} ({latest.score or ''})",
            generation,
            now,
        )
        phase = "Training" if active else "Ready"
    elif active:
        conditions = set_condition(
            conditions,
            "Ready",
            False,
            "Training",
            "the first version is being trained",
            generation,
            now,
        )
        phase = "Training"
    else:
        trained = get_condition(conditions, "Trained")
        reason = trained.reason if trained else "NoVersion"
        message = trained.message if trained else "no version has passed its gates yet"
        conditions = set_condition(conditions, "Ready", False, reason, message, generation, now)
        phase = "Failed" if trained else "Pending"
    status.conditions = conditions
    status.phase = phase


def _trained(
    conditions: list[Condition], newest: ObservedTrainingJob, generation: int, now: str
) -> list[Condition]:
    st = newest.status
    if st.phase == "Failed":
        reason = st.failure.reason if st.failure is not None else "TrainingFailed"
        message = st.failure.message if st.failure is not None else ""
        return set_condition(
            conditions, "Trained", False, reason, f"{newest.name}: {message}", generation, now
        )
    failed = [g for g in st.gates if not g.passed]
    if failed:
        detail = "; ".join(f"{g.metric} {g.value} is not {g.bound}" for g in failed)
        return set_condition(
            conditions,
            "Trained",
            False,
            "GateFailed",
            f"{newest.name}: version {st.version}: {detail}",
            generation,
            now,
        )
    return set_condition(
        conditions,
        "Trained",
        True,
        "VersionPublished",
        f"{newest.name}: version {st.version}",
        generation,
        now,
    )


def policy_summary(spec: ModelSpec) -> str:
    """The RetrainingPolicyValid message: what retrains the Model, within which bounds."""
    policy = spec.retraining
    parts = []
    if policy.drift is not None:
        confirmed = (
            " with a confirmed performance drop" if policy.drift.require_performance_drop else ""
        )
        parts.append(
            f"drift above {policy.drift.threshold:g} ({policy.drift.aggregate} PSI){confirmed}"
        )
    if policy.schedule:
        parts.append(f"schedule {policy.schedule}")
    if policy.on_dataset_change:
        parts.append("dataset change")
    return (
        f"retrains on {', '.join(parts)}; cooldown {policy.cooldown_seconds}s, "
        f"at most {policy.max_per_day} a day"
    )


def beyond_history(
    tjs: list[ObservedTrainingJob], active: list[ObservedTrainingJob], limit: int
) -> list[str]:
    """Names of the finished TrainingJobs beyond the history limit, oldest first."""
    active_names = {t.name for t in active}
    finished = sorted(
        (t for t in tjs if t.name not in active_names and not t.active), key=lambda t: t.created
    )
    return [t.name for t in finished[: max(0, len(finished) - limit)]]
