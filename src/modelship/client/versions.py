"""A Model's versions as rows, and two of them side by side: a plain table, or a DataFrame.

A version's metrics, score and dataset digest come from the Model's status; its hyperparameters
and gate outcomes from the TrainingJob that produced it (while the history limit keeps it).
pandas is optional: `to_dataframe()` imports it only when asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelship.api.v1alpha1 import GateResult, TrainingJob, VersionSummary


@dataclass(frozen=True)
class VersionRow:
    """One catalog version of a Model, with what produced it."""

    version: int
    digest: str
    score: str | None
    passed_gates: bool | None
    metrics: dict[str, float]
    params: dict[str, Any] | None
    dataset_digest: str | None
    gates: list[GateResult] = field(default_factory=list)
    training_job: str | None = None
    created_at: str | None = None

    @classmethod
    def of(cls, summary: VersionSummary, job: TrainingJob | None) -> VersionRow:
        return cls(
            version=summary.version,
            digest=summary.digest,
            score=summary.score,
            passed_gates=summary.passed_gates,
            metrics=dict(summary.metrics),
            params=_params(job),
            dataset_digest=summary.dataset_digest,
            gates=list(job.status.gates) if job is not None else [],
            training_job=summary.training_job,
            created_at=summary.created_at,
        )

    def flat(self) -> dict[str, Any]:
        """One level of keys: metric:NAME, param:NAME, gate:METRIC (the bound and the verdict)."""
        row: dict[str, Any] = {
            "version": self.version,
            "digest": self.digest[:19],
            "passedGates": self.passed_gates,
            "datasetDigest": (self.dataset_digest or "")[:19] or None,
            "trainingJob": self.training_job,
        }
        row.update({f"metric:{k}": v for k, v in sorted(self.metrics.items())})
        row.update({f"param:{k}": v for k, v in sorted((self.params or {}).items())})
        row.update(
            {
                f"gate:{g.metric}": f"{'pass' if g.passed else 'FAIL'} ({g.value} {g.bound})"
                for g in self.gates
            }
        )
        return row


def _text(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header, *[["" if c is None else _fmt(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells
    )


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _dataframe(records: list[dict[str, Any]], index: str) -> Any:
    try:
        import pandas  # type: ignore[import-untyped]
    except ImportError as exc:  # pandas is optional; the plain table needs nothing
        raise ImportError("to_dataframe() needs pandas: pip install pandas") from exc
    return pandas.DataFrame.from_records(records).set_index(index)


@dataclass(frozen=True)
class VersionTable:
    """A Model's versions, newest first."""

    rows: list[VersionRow]

    def __iter__(self) -> Any:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, version: int) -> VersionRow:
        for row in self.rows:
            if row.version == version:
                return row
        raise KeyError(f"no version {version} (the Model lists {[r.version for r in self.rows]})")

    def _columns(self) -> list[str]:
        columns: list[str] = []
        for row in self.rows:
            columns += [k for k in row.flat() if k not in columns]
        return columns

    def __str__(self) -> str:
        columns = self._columns()
        return _text(columns, [[row.flat().get(c) for c in columns] for row in self.rows])

    def to_dataframe(self) -> Any:
        """A pandas DataFrame indexed by version (pandas must be installed)."""
        return _dataframe([row.flat() for row in self.rows], "version")


@dataclass(frozen=True)
class Comparison:
    """Two versions side by side: one line per field, the values of each, whether they differ."""

    a: VersionRow
    b: VersionRow

    def lines(self) -> list[tuple[str, Any, Any]]:
        left, right = self.a.flat(), self.b.flat()
        keys = [*left, *(k for k in right if k not in left)]
        return [(k, left.get(k), right.get(k)) for k in keys if k != "version"]

    def differences(self) -> dict[str, tuple[Any, Any]]:
        return {k: (x, y) for k, x, y in self.lines() if x != y}

    def __str__(self) -> str:
        header = ["", f"version {self.a.version}", f"version {self.b.version}", ""]
        rows = [[k, x, y, "" if x == y else "*"] for k, x, y in self.lines()]
        return _text(header, rows)

    def to_dataframe(self) -> Any:
        a, b = f"version {self.a.version}", f"version {self.b.version}"
        records = [{"field": k, a: x, b: y} for k, x, y in self.lines()]
        return _dataframe(records, "field")


def _params(job: TrainingJob | None) -> dict[str, Any] | None:
    """The hyperparameters of the run: the algorithm's, or those passed to the user's code."""
    if job is None:
        return None
    snapshot = job.spec.snapshot
    if snapshot.algorithm is not None:
        return dict(snapshot.algorithm.params)
    code = snapshot.training.code
    return dict(code.params) if code is not None else None
