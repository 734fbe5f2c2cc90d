"""Turn what the test endpoints answered into a verdict, without I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from modelship.api.v1alpha1 import AcceptanceSpec, CheckResult


@dataclass
class Observations:
    """What the probes of the test endpoints saw."""

    identities: dict[str, tuple[Any, Any]] = field(
        default_factory=dict
    )  # target → (version, digest)
    predictions: list[Any] = field(default_factory=list)
    targets: list[Any] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; q in (0, 100]."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _same_label(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return str(a) == str(b)


def metric_value(name: str, predictions: list[Any], targets: list[Any]) -> float:
    if not predictions:
        return math.nan
    if name == "accuracy":
        return sum(_same_label(p, t) for p, t in zip(predictions, targets, strict=True)) / len(
            targets
        )
    errors = [float(p) - float(t) for p, t in zip(predictions, targets, strict=True)]
    if name == "rmse":
        return math.sqrt(sum(e * e for e in errors) / len(errors))
    if name == "mae":
        return sum(abs(e) for e in errors) / len(errors)
    if name == "r2":
        mean = sum(float(t) for t in targets) / len(targets)
        total = sum((float(t) - mean) ** 2 for t in targets)
        return 1 - sum(e * e for e in errors) / total if total else math.nan
    raise ValueError(f"acceptance cannot compute {name!r} from predictions alone")


def _bound_check(name: str, value: float, low: float | None, high: float | None) -> CheckResult:
    bounds = []
    if low is not None:
        bounds.append(f">= {low:g}")
    if high is not None:
        bounds.append(f"<= {high:g}")
    passed = (
        not math.isnan(value) and (low is None or value >= low) and (high is None or value <= high)
    )
    return CheckResult(
        name=name,
        passed=passed,
        value=None if math.isnan(value) else round(value, 6),
        bound=" and ".join(bounds) or None,
        message="" if passed else f"{name} {value:.4g} is not {' and '.join(bounds)}",
    )


def evaluate(
    spec: AcceptanceSpec,
    task: str,
    version: int,
    digest: str,
    observed: Observations,
    expected_targets: int,
) -> list[CheckResult]:
    """Every check the issue asks for: identity of each pod, prediction quality, latency."""
    checks: list[CheckResult] = []
    wrong = {
        target: ident for target, ident in observed.identities.items() if ident != (version, digest)
    }
    checks.append(
        CheckResult(
            name="identity",
            passed=bool(observed.identities) and not wrong,
            value=float(len(observed.identities) - len(wrong)),
            bound=f"all pods serve version {version} {digest[:19]}",
            message="; ".join(f"{t} serves {v!r} {d!r}" for t, (v, d) in wrong.items())
            or ("" if observed.identities else "no test pod answered"),
        )
    )
    answered = len(observed.predictions) == expected_targets and not observed.errors
    checks.append(
        CheckResult(
            name="requests",
            passed=answered,
            value=float(len(observed.predictions)),
            bound=f"{expected_targets} answered",
            message="; ".join(observed.errors[:3]),
        )
    )
    if spec.metric is not None and (spec.min is not None or spec.max is not None):
        value = metric_value(spec.metric, observed.predictions, observed.targets)
        checks.append(_bound_check(spec.metric, value, spec.min, spec.max))
    elif spec.min_accuracy is not None or task == "classification":
        value = (
            metric_value("accuracy", observed.predictions, observed.targets)
            if task == "classification"
            else math.nan
        )
        checks.append(_bound_check("accuracy", value, spec.min_accuracy or 0.0, None))
    p95 = percentile(observed.latencies_ms, 95)
    checks.append(_bound_check("latencyP95Ms", p95, None, spec.max_latency_ms))
    return checks
