"""Automatic retraining: when drift, a schedule or a changed dataset asks for a TrainingJob.

Everything here is pure: the Model controller gathers what it observed (its TrainingJobs, the
drift its production Deployments recorded, the dataset's validator) and `plan` turns that and the
previous `status.retraining` into a decision and the next `status.retraining`. The state that must
survive restarts lives in that status:

- `handled`: per trigger, the key of the last request acted on. Keys name the cause (a drift
  episode of a production version, a schedule slot, a dataset validator), so the same cause never
  trains twice, even after its TrainingJob was pruned by the history limit.
- `recent` and `lastAutomaticAt`: automatic trainings of the last 24 hours, merged with the
  TrainingJobs that exist, so neither a restart nor pruning resets the cooldown or the daily cap.
- `drift`: the drift episode. An episode opens when production drift of a version goes above the
  threshold and closes only when enough rows show it below again, so a steady drift is one
  retraining, not one per reading; flapping around the threshold is what cooldown and cap are for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from croniter import croniter

from modelship.api.v1alpha1 import DriftPolicy, ModelSpec, RetrainingSpec, Trigger
from modelship.operator.training_builders import training_job_name

Obj = dict[str, Any]
AUTOMATIC: tuple[Trigger, ...] = ("drift", "dataset-change", "schedule")
DAY = timedelta(days=1)
MIN_INTERVAL = timedelta(minutes=1)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"^(\d+)([smhd])$")


@dataclass(frozen=True)
class TrainingRequest:
    trigger: Trigger
    key: str
    reason: str


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# -- schedule ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """A cron expression (UTC) or a fixed interval counted from when the schedule was set."""

    expression: str
    interval: timedelta | None = None

    def last_slot(self, since: datetime, now: datetime) -> datetime | None:
        """The newest slot in (since, now], if any: missed slots collapse into one run."""
        if self.interval is not None:
            periods = int((now - since) / self.interval)
            return since + periods * self.interval if periods >= 1 else None
        slot: datetime = croniter(self.expression, now).get_prev(datetime)
        return slot if slot > since else None

    def next_slot(self, since: datetime, now: datetime) -> datetime:
        if self.interval is not None:
            periods = int((now - since) / self.interval) + 1
            return since + periods * self.interval
        slot: datetime = croniter(self.expression, now).get_next(datetime)
        return slot


def parse_schedule(expression: str) -> Schedule:
    """'6h', '30m', '1d', '90s'... or five-field cron; a ValueError says what is wrong."""
    text = expression.strip()
    match = _INTERVAL.match(text)
    if match:
        interval = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
        if interval < MIN_INTERVAL:
            raise ValueError(f"schedule interval {text!r} is shorter than one minute")
        return Schedule(text, interval)
    if len(text.split()) == 5 and croniter.is_valid(text):
        return Schedule(text)
    raise ValueError(
        f"schedule {expression!r} is neither an interval ('30m', '6h', '1d') "
        "nor a five-field cron expression ('0 3 * * *')"
    )


# -- drift ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftObservation:
    state: Literal["drifted", "stable", "unknown"]
    reason: str
    message: str
    deployment: str | None = None
    version: int | None = None
    psi: float | None = None
    rows: int = 0
    worst: str | None = None


def observe_drift(policy: DriftPolicy, deployments: list[Obj]) -> DriftObservation:
    """What the production Deployments of a Model say about drift, held to the Model's policy."""
    readings: list[tuple[str, int, Obj, float | None]] = []
    in_production = 0
    for mdep in deployments:
        status = mdep.get("status") or {}
        production, drift = status.get("production") or {}, status.get("drift") or {}
        if production.get("version") is None or not production.get("promotedAt"):
            continue
        in_production += 1
        if drift.get("version") != production.get("version"):
            continue  # not read yet since this version was promoted
        value = drift.get("overall") if policy.aggregate == "mean" else drift.get("max")
        readings.append((mdep["metadata"]["name"], int(production["version"]), drift, value))
    if not in_production:
        return DriftObservation(
            "unknown", "NotInProduction", "no Deployment of this Model serves production"
        )
    if not readings:
        return DriftObservation("unknown", "NoDriftReport", "production drift was not read yet")
    label = "mean PSI" if policy.aggregate == "mean" else "max PSI"
    trusted = [
        (name, version, drift, float(value))
        for name, version, drift, value in readings
        if value is not None and int(drift.get("rows", 0)) >= policy.min_rows
    ]
    if not trusted:
        name, version, drift, _ = max(readings, key=lambda r: int(r[2].get("rows", 0)))
        rows = int(drift.get("rows", 0))
        if rows == 0 and drift.get("error"):
            return DriftObservation(
                "unknown", "DriftUnreadable", f"Deployment {name}: {drift['error']}", name, version
            )
        return DriftObservation(
            "unknown",
            "TooFewRows",
            f"{rows} rows observed in production of version {version} "
            f"(Deployment {name}); drift is trusted from {policy.min_rows}",
            name,
            version,
            rows=rows,
        )
    name, version, drift, value = max(trusted, key=lambda r: r[3])
    psi, rows, worst = round(value, 4), int(drift.get("rows", 0)), drift.get("worst")
    where = f"over {rows} rows of production version {version} (Deployment {name})"
    if psi > policy.threshold:
        return DriftObservation(
            "drifted",
            "Drift",
            f"{label} {psi:.3g} > threshold {policy.threshold:g} {where}; worst: {worst or '-'}",
            name,
            version,
            psi,
            rows,
            worst,
        )
    return DriftObservation(
        "stable",
        "BelowThreshold",
        f"{label} {psi:.3g} <= threshold {policy.threshold:g} {where}",
        name,
        version,
        psi,
        rows,
        worst,
    )


def next_episode(previous: Obj | None, observation: DriftObservation, now: datetime) -> Obj:
    """Open a new episode on a new drift, close it on enough evidence of none; else keep it."""
    episode: Obj = dict(previous or {"episode": 0, "open": False})
    if observation.state == "drifted":
        same = (
            episode.get("open")
            and episode.get("deployment") == observation.deployment
            and episode.get("version") == observation.version
        )
        if not same:
            episode.update(
                episode=int(episode.get("episode", 0)) + 1,
                open=True,
                since=fmt(now),
                deployment=observation.deployment,
                version=observation.version,
            )
        episode["psi"] = observation.psi
    elif observation.state == "stable":
        episode["open"] = False
        episode["psi"] = observation.psi
    return episode


def drift_key(episode: Obj) -> str:
    return f"{episode['deployment']}/v{episode['version']}/episode-{episode['episode']}"


# -- dataset ----------------------------------------------------------------------------------


def next_dataset_state(
    previous: Obj | None, uri: str, probe: tuple[str | None, str | None] | None, now: datetime
) -> Obj:
    """Fold one probe (validator, error) into status; `None` means not probed this time."""
    state: Obj = dict(previous or {}) if (previous or {}).get("uri") == uri else {"uri": uri}
    if probe is None:
        return state
    validator, error = probe
    if error:
        state["error"] = error
        return state
    state.pop("error", None)
    if validator != state.get("validator"):
        state.update(validator=validator, observedAt=fmt(now))
    # The first validator seen is what the existing versions were trained on, as far as we know.
    state.setdefault("trainedValidator", validator)
    return state


# -- guardrails -------------------------------------------------------------------------------


def automatic_runs(tjs: list[Obj], remembered: list[Obj], now: datetime) -> list[Obj]:
    """Automatic trainings of the last 24 hours, from TrainingJobs and from status, oldest first."""
    runs = {
        r["trainingJob"]: dict(r)
        for r in remembered
        if r.get("trainingJob") and r.get("at") and parse_time(r["at"]) > now - DAY
    }
    for tj in tjs:
        created = tj["metadata"].get("creationTimestamp")
        trigger = (tj.get("spec") or {}).get("trigger")
        name = tj["metadata"]["name"]
        if trigger in AUTOMATIC and created and parse_time(created) > now - DAY:
            runs.setdefault(name, {"trainingJob": name, "trigger": trigger, "at": created})
    return sorted(runs.values(), key=lambda r: str(r["at"]))


@dataclass(frozen=True)
class Guard:
    allowed: bool
    reason: str = ""
    message: str = ""
    next_eligible_at: datetime | None = None


def cooldown_for(trigger: Trigger, policy: RetrainingSpec) -> int:
    if (
        trigger == "drift"
        and policy.drift is not None
        and policy.drift.cooldown_seconds is not None
    ):
        return policy.drift.cooldown_seconds
    return policy.cooldown_seconds


def check_guardrails(
    trigger: Trigger,
    policy: RetrainingSpec,
    active: str | None,
    runs: list[Obj],
    last_automatic: datetime | None,
    now: datetime,
) -> Guard:
    """One active TrainingJob, cooldown since the last automatic one, at most maxPerDay a day."""
    if active:
        return Guard(False, "TrainingActive", f"waits for the active TrainingJob {active}")
    holds: list[tuple[datetime, str, str]] = []
    cooldown = cooldown_for(trigger, policy)
    if last_automatic is not None and last_automatic + timedelta(seconds=cooldown) > now:
        until = last_automatic + timedelta(seconds=cooldown)
        holds.append(
            (until, "Cooldown", f"cooldown of {cooldown}s after the last automatic training")
        )
    if len(runs) >= policy.max_per_day:
        until = parse_time(runs[len(runs) - policy.max_per_day]["at"]) + DAY
        holds.append(
            (
                until,
                "DailyCap",
                f"{len(runs)} automatic trainings in the last 24h (maxPerDay {policy.max_per_day})",
            )
        )
    if not holds:
        return Guard(True)
    until, reason, message = max(holds)
    return Guard(False, reason, f"{message}; eligible at {fmt(until)}", until)


# -- the decision -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    decision: Literal["Retrain", "Deferred", "NotNeeded", "Invalid"]
    reason: str
    message: str
    trigger: Trigger | None = None
    request: TrainingRequest | None = None
    problems: tuple[str, ...] = ()


def plan(
    model: str,
    spec: ModelSpec,
    previous: Obj,
    tjs: list[Obj],
    active: str | None,
    deployments: list[Obj],
    dataset: Obj | None,
    now: datetime,
) -> tuple[Decision, Obj]:
    """The automatic-retraining decision and the next status.retraining (pure)."""
    policy = spec.retraining
    state: Obj = {k: v for k, v in previous.items() if k in ("handled", "lastAutomaticAt")}
    handled: dict[str, str] = dict(previous.get("handled") or {})
    runs = automatic_runs(tjs, previous.get("recent") or [], now)
    state["recent"] = runs
    last = [parse_time(r["at"]) for r in runs]
    if previous.get("lastAutomaticAt"):
        last.append(parse_time(previous["lastAutomaticAt"]))
    last_automatic = max(last, default=None)
    if last_automatic is not None:
        state["lastAutomaticAt"] = fmt(last_automatic)

    candidates: list[TrainingRequest] = []
    notes: list[tuple[str, str]] = []
    problems: list[str] = []
    if policy.drift is not None:
        observation = observe_drift(policy.drift, deployments)
        episode = next_episode(previous.get("drift"), observation, now)
        state["drift"] = episode
        if observation.state == "drifted":
            key = drift_key(episode)
            if handled.get("drift") == key:
                notes.append(
                    (
                        "AlreadyRequested",
                        f"drift episode {episode['episode']} already started "
                        f"{training_job_name(model, 'drift', key)} ({observation.message})",
                    )
                )
            else:
                candidates.append(TrainingRequest("drift", key, f"drift: {observation.message}"))
        else:
            notes.append((observation.reason, f"drift: {observation.message}"))
    if policy.on_dataset_change and dataset is not None:
        state["dataset"] = dataset
        validator, trained = dataset.get("validator"), dataset.get("trainedValidator")
        if dataset.get("error"):
            notes.append(("DatasetUnchecked", f"dataset: {dataset['error']}"))
        elif validator and trained and validator != trained:
            if handled.get("dataset-change") != validator:
                candidates.append(
                    TrainingRequest(
                        "dataset-change",
                        str(validator),
                        f"dataset {dataset['uri']} changed ({trained} -> {validator})",
                    )
                )
        else:
            notes.append(("DatasetUnchanged", f"dataset: unchanged ({validator})"))
    if policy.schedule:
        try:
            schedule = parse_schedule(policy.schedule)
        except ValueError as exc:
            problems.append(str(exc))
        else:
            known = previous.get("schedule") or {}
            since = (
                parse_time(known["since"])
                if known.get("expression") == schedule.expression and known.get("since")
                else now
            )
            slot = schedule.last_slot(since, now)
            state["schedule"] = {
                "expression": schedule.expression,
                "since": fmt(since),
                "nextRunAt": fmt(schedule.next_slot(since, now)),
            }
            if slot is not None and handled.get("schedule") != fmt(slot):
                candidates.append(
                    TrainingRequest(
                        "schedule",
                        fmt(slot),
                        f"scheduled run of {fmt(slot)} ({schedule.expression})",
                    )
                )
            else:
                notes.append(("NotDue", f"schedule: next run at {state['schedule']['nextRunAt']}"))

    decision: Decision
    if candidates:
        request = candidates[0]
        guard = check_guardrails(request.trigger, policy, active, runs, last_automatic, now)
        if guard.allowed:
            decision = Decision(
                "Retrain", _reason(request.trigger), request.reason, request.trigger, request
            )
        else:
            decision = Decision(
                "Deferred",
                guard.reason,
                f"{request.reason}; held back: {guard.message}",
                request.trigger,
            )
    elif problems:
        decision = Decision("Invalid", "InvalidSchedule", "; ".join(problems))
    else:
        reason = notes[0][0] if notes else "NothingToDo"
        decision = Decision("NotNeeded", reason, "; ".join(n for _, n in notes))
    if problems:
        decision = Decision(
            decision.decision,
            decision.reason,
            decision.message,
            decision.trigger,
            decision.request,
            tuple(problems),
        )
    # When cooldown or cap would hold back the next automatic training, say until when.
    hold = check_guardrails(decision.trigger or "schedule", policy, None, runs, last_automatic, now)
    if hold.next_eligible_at is not None:
        state["nextEligibleAt"] = fmt(hold.next_eligible_at)
    state.update(decision=decision.decision, reason=decision.reason, message=decision.message)
    if decision.trigger:
        state["trigger"] = decision.trigger
    same = (previous.get("decision"), previous.get("reason"), previous.get("trigger")) == (
        decision.decision,
        decision.reason,
        decision.trigger,
    )
    state["at"] = previous["at"] if same and previous.get("at") else fmt(now)
    state["handled"] = handled
    return decision, state


def _reason(trigger: Trigger) -> str:
    return {"drift": "Drift", "schedule": "Scheduled", "dataset-change": "DatasetChanged"}.get(
        trigger, "Requested"
    )


def record_training(
    state: Obj, request: TrainingRequest, training_job: str, created_at: str, policy: RetrainingSpec
) -> Obj:
    """status.retraining once the request's TrainingJob exists (created now, or found)."""
    state = dict(state)
    state["handled"] = {**(state.get("handled") or {}), request.trigger: request.key}
    runs = [r for r in state.get("recent") or [] if r.get("trainingJob") != training_job]
    state["recent"] = sorted(
        [*runs, {"trainingJob": training_job, "trigger": request.trigger, "at": created_at}],
        key=lambda r: str(r["at"]),
    )
    last = max(created_at, str(state.get("lastAutomaticAt") or ""))
    state["lastAutomaticAt"] = last
    hold = check_guardrails(
        "schedule", policy, None, state["recent"], parse_time(last), parse_time(created_at)
    )
    state.pop("nextEligibleAt", None)
    if hold.next_eligible_at is not None:
        state["nextEligibleAt"] = fmt(hold.next_eligible_at)
    return state


def has_policy(policy: RetrainingSpec) -> bool:
    return bool(policy.drift is not None or policy.schedule or policy.on_dataset_change)
