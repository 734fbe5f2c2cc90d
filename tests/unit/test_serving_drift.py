"""Population stability index of live inputs against a reference profile."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelship.serving.drift import DriftMonitor, FeatureBins

EDGES = [0.0, 1.0, 2.0, 3.0, 4.0]
UNIFORM = [0.25, 0.25, 0.25, 0.25]


def monitor(window_rows: int = 1000, epsilon: float = 1e-4) -> DriftMonitor:
    bins = [FeatureBins("a", EDGES, UNIFORM), FeatureBins("b", [0.0, 10.0], [1.0])]
    return DriftMonitor(bins, window_rows=window_rows, epsilon=epsilon)


def rows(a: list[float]) -> np.ndarray:
    return np.column_stack([a, [5.0] * len(a)])


def test_nothing_observed_reports_no_psi() -> None:
    report = monitor().report()
    assert report.overall is None and report.window_rows == 0
    assert report.features == {"a": None, "b": None}


def test_matching_distribution_gives_zero() -> None:
    drift = monitor()
    drift.observe(rows([0.5, 1.5, 2.5, 3.5] * 50))
    report = drift.report()
    assert report.features["a"] == pytest.approx(0.0)
    assert report.overall == pytest.approx(0.0)
    assert report.window_rows == report.observed_rows == 200


def test_psi_formula_with_epsilon_for_empty_bins() -> None:
    drift = monitor(epsilon=1e-4)
    drift.observe(rows([0.5] * 100))  # everything in the first bin, three bins empty

    expected = (1 - 0.25) * math.log(1 / 0.25) + 3 * (1e-4 - 0.25) * math.log(1e-4 / 0.25)
    report = drift.report()
    assert report.features["a"] == pytest.approx(expected)
    assert report.maximum == pytest.approx(expected)
    assert report.overall == pytest.approx(expected / 2)


def test_values_outside_the_edges_fall_into_the_outer_bins() -> None:
    drift = monitor()
    drift.observe(rows([-100.0, 1.0, 2.5, 100.0]))
    drift.observe(rows([0.0, 1.5, 2.0, 4.0]))  # 4.0 is the last edge: last bin (closed)
    assert drift.report().features["a"] == pytest.approx(0.0)


def test_window_forgets_old_traffic() -> None:
    drift = monitor(window_rows=100)
    drift.observe(rows([0.5] * 1000))  # old, shifted traffic
    drift.observe(rows([0.5, 1.5, 2.5, 3.5] * 25))  # the last 100 rows match the reference

    report = drift.report()
    assert 90 <= report.window_rows <= 100  # whole blocks of window_rows / 10
    assert report.observed_rows == 1100
    assert report.features["a"] < 0.01


def test_missing_values_have_their_own_bin_and_rate() -> None:
    # Reference: 20 % missing, the present values uniform over four bins.
    bins = [FeatureBins("a", EDGES, UNIFORM, missing=0.2)]
    drift = DriftMonitor(bins, window_rows=1000, epsilon=1e-4)
    drift.observe(np.array([[0.5], [1.5], [2.5], [3.5], [np.nan]] * 40))
    same = drift.report()
    assert same.features["a"] == pytest.approx(0.0)
    assert same.missing == {"a": pytest.approx(0.2)}

    drift = DriftMonitor(bins, window_rows=1000, epsilon=1e-4)
    drift.observe(np.array([[0.5], [np.nan], [np.nan], [np.nan]] * 25))  # 75 % missing now
    shifted = drift.report()
    assert shifted.missing == {"a": pytest.approx(0.75)}
    expected = (0.25 - 0.2) * math.log(0.25 / 0.2) + (0.75 - 0.2) * math.log(0.75 / 0.2)
    expected += 3 * (1e-4 - 0.2) * math.log(1e-4 / 0.2)
    assert shifted.features["a"] == pytest.approx(expected)


def test_categories_are_bins_of_their_codes() -> None:
    # Three categories and the unknown bin, as the trainer profiles a categorical feature.
    edges = [-0.5, 0.5, 1.5, 2.5, 3.5]
    drift = DriftMonitor(
        [FeatureBins("city", edges, [0.5, 0.3, 0.2, 0.0])], window_rows=1000, epsilon=1e-4
    )
    drift.observe(np.array([[0.0]] * 50 + [[1.0]] * 30 + [[2.0]] * 20))
    assert drift.report().features["city"] == pytest.approx(0.0, abs=1e-3)
    drift.observe(np.array([[3.0]] * 100))  # unseen values take half the traffic
    assert drift.report().features["city"] > 1.0
