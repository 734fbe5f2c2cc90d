"""How a version is held to its Model's quality gates: one rule for the trainer and the operator.

The trainer checks the gates it can (min and max) and records the result in the catalog; the
operator checks them again with the production champion, which only it knows. Both call this one
function, so a gate reads and judges the same in catalog metadata and in TrainingJob status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from modelship.api.v1alpha1 import LOWER_IS_BETTER, Gate, GateResult


class Champion(NamedTuple):
    """The version in production and its held-out metrics."""

    version: int
    metrics: dict[str, float]


def evaluate_gates(
    gates: Sequence[Gate], metrics: dict[str, float], champion: Champion | None = None
) -> list[GateResult]:
    """Hold each metric to its bounds; a metric the trainer did not report fails its gate.

    A gate with minImprovement must beat the champion by that margin (downwards for rmse and
    mae). Without a champion, or when the champion lacks the metric, the comparison does not
    apply.
    """
    return [_evaluate(gate, metrics.get(gate.metric), champion) for gate in gates]


def _evaluate(gate: Gate, value: float | None, champion: Champion | None) -> GateResult:
    bounds = []
    if gate.min is not None:
        bounds.append(f">= {gate.min:g}")
    if gate.max is not None:
        bounds.append(f"<= {gate.max:g}")
    beats = True
    best = champion.metrics.get(gate.metric) if champion is not None else None
    if gate.min_improvement is not None and champion is not None and best is not None:
        lower = gate.metric in LOWER_IS_BETTER
        target = best - gate.min_improvement if lower else best + gate.min_improvement
        bounds.append(
            f"{'<=' if lower else '>='} {target:.4g} (production version {champion.version} "
            f"{best:.4g} {'-' if lower else '+'} {gate.min_improvement:g})"
        )
        beats = value is not None and (value <= target if lower else value >= target)
    passed = (
        value is not None
        and beats
        and (gate.min is None or value >= gate.min)
        and (gate.max is None or value <= gate.max)
    )
    return GateResult(
        metric=gate.metric,
        value=value,
        bound=" and ".join(bounds) or "no champion to compare with",
        passed=passed,
    )
