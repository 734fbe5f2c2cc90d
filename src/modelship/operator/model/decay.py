"""Performance decay: production's live metric, held to the Model's `retraining.performance`.

Pure: the Deployments of the Model (their status.performance, written from the evaluation Job's
totals) and the policy in; a verdict out, one row of a decision table:

| evaluated | >= minLabels | threshold known | worse | new labels | verdict                    |
|-----------|--------------|-----------------|-------|------------|----------------------------|
| no        | -            | -               | -     | -          | unknown (NotEvaluated)     |
| yes       | no           | -               | -     | -          | unknown (TooFewLabels)     |
| yes       | yes          | no (dropBy)     | -     | -          | unknown (NoOfflineMetric)  |
| yes       | yes          | yes             | no    | -          | healthy (WithinBounds)     |
| yes       | yes          | yes             | yes   | no         | futile (NoNewLabels)       |
| yes       | yes          | yes             | yes   | yes / off  | decayed (PerformanceDecay) |

The evidence is the interval's bound on the good side by default (`decideOn: bound`): accuracy
decays only when even its upper bound is below the threshold, an error only when even its lower
bound is above it, so a small sample's noise never retrains. The request key names the
Deployment, the version and (with `requireNewLabels`) the labelled count: the same measurement
never trains twice, and a version already retrained for its decay trains again only once more
labels were measured (a retraining on unchanged data would reproduce the decayed model).

The same judgement gates input drift when `retraining.drift.requirePerformanceDrop` is set
(`drift_gate_policy`): drift retrains only on a `decayed` verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from modelship.api.v1alpha1 import LiveMetric, PerformancePolicy, ServedPerformance, Task
from modelship.operator.model.observation import ServingDeployment

State = Literal["decayed", "futile", "healthy", "unknown"]
_KEY = re.compile(r"^(?P<where>.+/v\d+)/labels-(?P<labelled>\d+)$")


@dataclass(frozen=True)
class DecayObservation:
    state: State
    reason: str
    message: str
    key: str | None = None
    """The request's key (decayed only)."""


def observe_decay(
    policy: PerformancePolicy, deployments: list[ServingDeployment], handled: str | None
) -> DecayObservation:
    """The verdict on production's live metric; `handled` is the key of the last performance
    training request acted on."""
    readings: list[tuple[str, ServedPerformance]] = []
    in_production = 0
    for mdep in deployments:
        production, performance = mdep.status.production, mdep.status.performance
        if production is None or production.version is None or not production.promoted_at:
            continue
        in_production += 1
        for served in performance.versions if performance is not None else []:
            if (served.role, served.version, served.digest, served.metric) == (
                "production", production.version, production.digest, policy.metric,
            ):  # fmt: skip
                readings.append((mdep.name, served))
    if not in_production:
        return DecayObservation(
            "unknown", "NotInProduction", "no Deployment of this Model serves production"
        )
    if not readings:
        return DecayObservation(
            "unknown",
            "NotEvaluated",
            f"production's live {policy.metric} was not evaluated yet "
            "(spec.monitoring.evaluation of its Deployment)",
        )
    verdicts = [_judge(policy, name, served, handled) for name, served in readings]
    for state in ("decayed", "futile", "healthy", "unknown"):
        for verdict in verdicts:
            if verdict.state == state:
                return verdict
    raise AssertionError("unreachable: every verdict has a state")


DEFAULT_GATE_METRIC: dict[Task, LiveMetric] = {"classification": "accuracy", "regression": "mae"}
DEFAULT_GATE_LABELS = 100


def drift_gate_policy(performance: PerformancePolicy | None, task: Task) -> PerformancePolicy:
    """The rule a drift with `requirePerformanceDrop` must pass: `retraining.performance`'s when
    set; else a drop below the offline value itself (`dropBy` 0, which the API refuses from
    users, who must say by how much), on the interval's bound, from `DEFAULT_GATE_LABELS`
    labels, in the evaluation's default metric for the task."""
    if performance is not None:
        return performance.model_copy(update={"require_new_labels": False})
    return PerformancePolicy.model_construct(
        metric=DEFAULT_GATE_METRIC[task], below=None, above=None, drop_by=0.0,
        min_labels=DEFAULT_GATE_LABELS, decide_on="bound", require_new_labels=False,
        cooldown_seconds=None,
    )  # fmt: skip


def _judge(
    policy: PerformancePolicy, name: str, served: ServedPerformance, handled: str | None
) -> DecayObservation:
    where = f"production version {served.version} (Deployment {name})"
    if served.value is None or served.labelled < policy.min_labels:
        return DecayObservation(
            "unknown",
            "TooFewLabels",
            f"{served.labelled} labelled rows of {where}; the live {policy.metric} is trusted "
            f"from {policy.min_labels}",
        )
    higher_is_better = policy.metric == "accuracy"
    threshold = threshold_of(policy, served.offline)
    if threshold is None:
        return DecayObservation(
            "unknown",
            "NoOfflineMetric",
            f"dropBy needs the offline {policy.metric} of {where}, which its Model does not record",
        )
    if policy.decide_on == "bound":
        bound = served.high if higher_is_better else served.low
        evidence = bound if bound is not None else served.value
    else:
        evidence = served.value
    worse = evidence < threshold if higher_is_better else evidence > threshold
    figure = _figure(policy, served)
    if not worse:
        return DecayObservation(
            "healthy", "WithinBounds", f"{figure} of {where}: not worse than {threshold:.4g}"
        )
    side = "<" if higher_is_better else ">"
    message = f"{figure} of {where}: {policy.decide_on} {evidence:.4g} {side} {threshold:.4g}"
    place = f"{name}/v{served.version}"
    if policy.require_new_labels:
        seen = _labelled_at(handled, place)
        if seen is not None and served.labelled <= seen:
            return DecayObservation(
                "futile",
                "NoNewLabels",
                f"performance decay; no new labels to learn from ({served.labelled} labelled "
                f"rows, {seen} at its last performance training): {message}",
            )
        return DecayObservation(
            "decayed", "PerformanceDecay", message, f"{place}/labels-{served.labelled}"
        )
    return DecayObservation("decayed", "PerformanceDecay", message, place)


def threshold_of(policy: PerformancePolicy, offline: float | None) -> float | None:
    """The value the live metric is held to (None: dropBy without an offline value)."""
    if policy.below is not None:
        return policy.below
    if policy.above is not None:
        return policy.above
    if offline is None or policy.drop_by is None:
        return None
    return offline - policy.drop_by if policy.metric == "accuracy" else offline + policy.drop_by


def _labelled_at(handled: str | None, place: str) -> int | None:
    """Labelled rows when `place` (deployment/vN) was last retrained for its decay, if it was."""
    match = _KEY.match(handled or "")
    if match is None or match["where"] != place:
        return None
    return int(match["labelled"])


def _figure(policy: PerformancePolicy, served: ServedPerformance) -> str:
    interval = (
        f" [{served.low:.3f}, {served.high:.3f}]"
        if served.low is not None and served.high is not None
        else ""
    )
    offline = f", offline {served.offline:.3f}" if served.offline is not None else ""
    return (
        f"live {policy.metric} {served.value:.3f}{interval} over {served.labelled} labels{offline}"
    )
