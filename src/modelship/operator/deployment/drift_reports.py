"""Production drift reports: one pod's, checked against the contract, and all pods' combined.

Pure, so the combination is table-tested apart from the reading (`drift.py`). Answers are
combined weighted by the rows each pod's figure is computed over, so a pod that saw ten rows
cannot outvote one that saw ten thousand. Combining PSI values (rather than bin counts, which the
report does not carry) is exact for the mean and a close, conservative-enough estimate per
feature when pods see similar traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from modelship.api.v1alpha1 import DriftStatus, FeatureDrift
from modelship.contracts.drift import DriftReport

WORST_SHOWN = 3


class DriftReadError(RuntimeError):
    """A report could not be read or made no sense."""


@dataclass(frozen=True)
class PodReport:
    """One pod's drift report, reduced to what the combination needs."""

    source: str
    rows: int
    observed_rows: int
    features: dict[str, float | None]
    digest: str | None = None
    missing: dict[str, float] = field(default_factory=dict)
    """Share of missing values per typed numeric feature (absent: none reported)."""


def parse_report(raw: object, source: str) -> PodReport:
    """Check `GET /v2/models/{name}/drift` against the contract and keep what matters."""
    try:
        report = DriftReport.model_validate(raw)
    except ValidationError as exc:
        raise DriftReadError(f"{source}: malformed drift report ({_first(exc)})") from None
    features = {f.name: f.psi for f in report.features}
    missing = {f.name: f.missing_rate for f in report.features if f.missing_rate is not None}
    return PodReport(
        source, report.window_rows, report.observed_rows, features, report.reference.digest,
        missing,
    )  # fmt: skip


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or 'report'}: {error['msg']}"


@dataclass
class Combined:
    overall: float | None
    maximum: float | None
    rows: int
    observed_rows: int
    features: list[tuple[str, float | None]] = field(default_factory=list)
    missing: dict[str, float] = field(default_factory=dict)

    @property
    def worst(self) -> str | None:
        ranked = sorted(
            ((n, p) for n, p in self.features if p is not None), key=lambda f: f[1], reverse=True
        )
        return ", ".join(f"{n}={p:.3g}" for n, p in ranked[:WORST_SHOWN]) or None


def combine(reports: list[PodReport]) -> Combined:
    """Per-feature PSI weighted by each pod's rows; overall is the mean over features (pure)."""
    names: list[str] = []
    for report in reports:
        names += [n for n in report.features if n not in names]
    features: list[tuple[str, float | None]] = []
    for name in names:
        weighted = [
            (r.rows, r.features[name])
            for r in reports
            if r.rows > 0 and r.features.get(name) is not None
        ]
        total = sum(rows for rows, _ in weighted)
        value = (
            sum(rows * psi for rows, psi in weighted if psi is not None) / total if total else None
        )
        features.append((name, None if value is None else round(value, 4)))
    values = [psi for _, psi in features if psi is not None]
    missing: dict[str, float] = {}
    for name in names:
        shares = [(r.rows, r.missing[name]) for r in reports if r.rows > 0 and name in r.missing]
        if total := sum(rows for rows, _ in shares):
            missing[name] = round(sum(rows * share for rows, share in shares) / total, 4)
    return Combined(
        overall=round(sum(values) / len(values), 4) if values else None,
        maximum=max(values) if values else None,
        rows=sum(r.rows for r in reports),
        observed_rows=sum(r.observed_rows for r in reports),
        features=features,
        missing=missing,
    )


def drift_status(
    version: int, digest: str, reports: list[PodReport], errors: list[str], access: str, now: str
) -> DriftStatus:
    """The Deployment's status.drift from what was read (pure)."""
    mismatched = [r.source for r in reports if r.digest and r.digest != digest]
    reports = [r for r in reports if r.source not in mismatched]
    errors = [*errors, *(f"{s}: serves another digest" for s in mismatched)]
    combined = combine(reports)
    return DriftStatus(
        version=version,
        digest=digest,
        rows=combined.rows,
        observed_rows=combined.observed_rows,
        pods=len(reports),
        features=[
            FeatureDrift(name=n, psi=p, missing_rate=combined.missing.get(n))
            for n, p in combined.features
        ],
        access=access,
        checked_at=now,
        overall=combined.overall,
        max=combined.maximum,
        worst=combined.worst,
        error="; ".join(errors)[:1000] if errors else None,
    )
