"""What asks for an automatic retraining: a schedule, production drift, a changed dataset.

Pure readings of each signal into typed status (`ScheduleState`, `DriftEpisode`, `DatasetState`);
`retraining.plan` weighs them against the guardrails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from croniter import croniter

from modelship.api.v1alpha1 import DatasetState, DriftEpisode, DriftPolicy, DriftStatus
from modelship.api.v1alpha1.base import parse_rfc3339, rfc3339
from modelship.operator.model.observation import ServingDeployment

MIN_INTERVAL = timedelta(minutes=1)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"^(\d+)([smhd])$")


def parse_time(text: str) -> datetime:
    return parse_rfc3339(text)


def fmt(moment: datetime) -> str:
    return rfc3339(moment)


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


@dataclass(frozen=True)
class _Reading:
    deployment: str
    version: int
    drift: DriftStatus
    value: float | None


def observe_drift(policy: DriftPolicy, deployments: list[ServingDeployment]) -> DriftObservation:
    """What the production Deployments of a Model say about drift, held to the Model's policy."""
    readings: list[_Reading] = []
    in_production = 0
    for mdep in deployments:
        production, drift = mdep.status.production, mdep.status.drift
        if production is None or production.version is None or not production.promoted_at:
            continue
        in_production += 1
        if drift is None or drift.version != production.version:
            continue  # not read yet since this version was promoted
        value = drift.overall if policy.aggregate == "mean" else drift.max
        readings.append(_Reading(mdep.name, production.version, drift, value))
    if not in_production:
        return DriftObservation(
            "unknown", "NotInProduction", "no Deployment of this Model serves production"
        )
    if not readings:
        return DriftObservation("unknown", "NoDriftReport", "production drift was not read yet")
    label = "mean PSI" if policy.aggregate == "mean" else "max PSI"
    trusted = [r for r in readings if r.value is not None and r.drift.rows >= policy.min_rows]
    if not trusted:
        most = max(readings, key=lambda r: r.drift.rows)
        name, version, rows = most.deployment, most.version, most.drift.rows
        if rows == 0 and most.drift.error:
            return DriftObservation(
                "unknown",
                "DriftUnreadable",
                f"Deployment {name}: {most.drift.error}",
                name,
                version,
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
    worst_reading = max(trusted, key=lambda r: float(r.value or 0.0))
    name, version = worst_reading.deployment, worst_reading.version
    psi, rows = round(float(worst_reading.value or 0.0), 4), worst_reading.drift.rows
    worst = worst_reading.drift.worst
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


def next_episode(
    previous: DriftEpisode | None, observation: DriftObservation, now: datetime
) -> DriftEpisode:
    """Open a new episode on a new drift, close it on enough evidence of none; else keep it."""
    episode = previous.model_copy() if previous is not None else DriftEpisode()
    if observation.state == "drifted":
        same = (
            episode.open
            and episode.deployment == observation.deployment
            and episode.version == observation.version
        )
        if not same:
            episode.episode += 1
            episode.open, episode.since = True, fmt(now)
            episode.deployment, episode.version = observation.deployment, observation.version
        episode.psi = observation.psi
    elif observation.state == "stable":
        episode.open = False
        episode.psi = observation.psi
    return episode


def drift_key(episode: DriftEpisode) -> str:
    return f"{episode.deployment}/v{episode.version}/episode-{episode.episode}"


# -- dataset ----------------------------------------------------------------------------------


def next_dataset_state(
    previous: DatasetState | None,
    uri: str,
    probe: tuple[str | None, str | None] | None,
    now: datetime,
) -> DatasetState:
    """Fold one probe (validator, error) into status; `None` means not probed this time."""
    same = previous is not None and previous.uri == uri
    state = previous.model_copy() if same and previous is not None else DatasetState(uri=uri)
    if probe is None:
        return state
    validator, error = probe
    if error:
        state.error = error
        return state
    state.error = None
    if validator != state.validator:
        state.validator, state.observed_at = validator, fmt(now)
    # The first validator seen is what the existing versions were trained on, as far as we know.
    if state.trained_validator is None:
        state.trained_validator = validator
    return state
