"""The evaluation join and its intervals: Wilson and the bootstrap against scipy, and the join's
rules (last capture and last label win, maturity, orphans, invalid records, per version)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from modelship.monitoring.intervals import bootstrap, mean_of_rows, wilson
from modelship.monitoring.join import evaluate

NOW = 1_000_000.0


def capture(
    row_id: str,
    prediction: Any,
    ts: float = NOW - 7200,
    version: int = 1,
    stage: str = "production",
) -> dict[str, Any]:
    return {
        "id": row_id, "ts": ts, "model": "iris", "version": version,
        "digest": f"sha256:{version:064x}", "stage": stage, "inputs": {"a": 1.0},
        "prediction": prediction, "proba": None,
    }  # fmt: skip


def label(row_id: str, value: Any, ts: float = NOW - 60) -> dict[str, Any]:
    return {"id": row_id, "ts": ts, "label": value, "source": None}


CASES = [
    (0, 10, 0.95), (10, 10, 0.95), (97, 100, 0.95), (100, 200, 0.9), (3, 1000, 0.99),
    (1, 1, 0.95),
]  # fmt: skip


@pytest.mark.parametrize(("k", "n", "confidence"), CASES)
def test_wilson_matches_scipy(k: int, n: int, confidence: float) -> None:
    expected = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert wilson(k, n, confidence) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_wilson_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="at least one trial"):
        wilson(0, 0)
    with pytest.raises(ValueError, match=r"successes must lie in \[0, 5\]"):
        wilson(6, 5)


def test_bootstrap_agrees_with_scipy_percentile() -> None:
    values = np.random.default_rng(1).exponential(10.0, size=400)
    ours = bootstrap(values, mean_of_rows)
    theirs = stats.bootstrap(
        (values,), np.mean, method="percentile", n_resamples=4000, random_state=2
    ).confidence_interval
    assert ours[0] == pytest.approx(theirs.low, rel=0.03)
    assert ours[1] == pytest.approx(theirs.high, rel=0.03)
    assert ours[0] < values.mean() < ours[1]
    assert bootstrap(values, mean_of_rows) == ours  # seeded: unchanged data, unchanged interval


def test_accuracy_per_version_with_wilson_and_coverage() -> None:
    captures = [capture(f"a/{i}", i % 2) for i in range(10)]
    captures += [capture(f"b/{i}", 1, version=2, stage="canary") for i in range(4)]
    labels = [label(f"a/{i}", 0) for i in range(8)]  # right for even rows: 4 of 8
    labels += [label(f"b/{i}", "1") for i in range(4)]  # text labels compare with int classes
    result = evaluate(captures, labels, task="classification", now=NOW)
    first, second = result.versions
    assert (first.version, first.captured, first.labelled, first.coverage) == (1, 10, 8, 0.8)
    assert first.estimate is not None and first.estimate.value == 0.5
    assert (first.estimate.low, first.estimate.high) == pytest.approx(wilson(4, 8))
    assert first.coverage_by_class == {"0": 0.8, "1": 0.8}
    assert second.stages == ("canary",) and second.estimate is not None
    assert second.estimate.value == 1.0 and second.estimate.method == "wilson"


def test_last_label_wins_and_orphans_and_invalid_records_are_counted() -> None:
    captures = [capture("r/0", 1), {"id": "", "broken": True}]
    labels = [
        label("r/0", 0, ts=NOW - 100),
        label("r/0", 1, ts=NOW - 50),  # the correction
        label("ghost/0", 1),
        {"id": "r/0"},  # no label: invalid
    ]
    result = evaluate(captures, labels, task="classification", now=NOW)
    (only,) = result.versions
    assert only.estimate is not None and only.estimate.value == 1.0
    assert (result.labels, result.superseded_labels, result.orphan_labels) == (3, 1, 1)
    assert result.invalid_records == 2


def test_immature_captures_wait_and_the_window_is_applied() -> None:
    captures = [capture("old/0", 1, ts=NOW - 10_000), capture("new/0", 1, ts=NOW - 10)]
    captures.append(capture("mid/0", 0, ts=NOW - 3000))
    labels = [label("old/0", 1), label("new/0", 0), label("mid/0", 0)]
    result = evaluate(
        captures, labels, task="classification", now=NOW, maturity_seconds=600,
        since=NOW - 5000,
    )  # fmt: skip
    (only,) = result.versions
    assert only.captured == 1 and only.labelled == 1  # only mid/0: old is outside, new immature
    assert result.immature_captures == 1 and result.orphan_labels == 0


def test_regression_mae_and_rmse_with_bootstrap() -> None:
    captures = [capture(f"d/{i}", float(i)) for i in range(50)]
    labels = [label(f"d/{i}", float(i) + (3.0 if i % 2 else -1.0)) for i in range(50)]
    mae = evaluate(captures, labels, task="regression", now=NOW).versions[0].estimate
    assert mae is not None and mae.value == pytest.approx(2.0) and mae.method == "bootstrap"
    assert mae.low <= 2.0 <= mae.high
    rmse = evaluate(captures, labels, task="regression", now=NOW, metric="rmse")
    estimate = rmse.versions[0].estimate
    assert estimate is not None and estimate.value == pytest.approx(np.sqrt(5.0))


def test_a_version_without_labels_has_no_estimate_and_metrics_must_fit_the_task() -> None:
    result = evaluate([capture("x/0", 1)], [], task="classification", now=NOW)
    assert result.versions[0].estimate is None and result.versions[0].coverage == 0.0
    with pytest.raises(ValueError, match="'mae' does not apply to classification"):
        evaluate([], [], task="classification", now=NOW, metric="mae")
