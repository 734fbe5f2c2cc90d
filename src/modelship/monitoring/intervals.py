"""Confidence intervals for a live metric: Wilson for a proportion, bootstrap otherwise.

Wilson's interval, because the normal approximation (p ± z·sqrt(p(1-p)/n)) collapses to a
zero-width interval at p = 0 or 1 and undercovers for the few hundred labels a live window
typically has; Wilson stays inside [0, 1] and keeps close to its nominal coverage there (Brown,
Cai & DasGupta 2001). For a mean error (MAE, RMSE) there is no closed form worth trusting on
skewed errors, so a percentile bootstrap with a fixed seed (the same rows give the same interval,
so a status does not flap between evaluations of unchanged data). Tests compare both with scipy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

Interval = tuple[float, float]
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20251207


def z_value(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval of `successes` out of `trials` (no continuity correction)."""
    if trials <= 0:
        raise ValueError("a proportion needs at least one trial")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must lie in [0, {trials}], got {successes}")
    z = z_value(confidence)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap(
    values: NDArray[np.float64],
    statistic: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Interval:
    """Percentile bootstrap interval of `statistic`, which maps (resamples, n) rows to
    (resamples,) values (vectorised: 2000 resamples of 10⁵ rows in one numpy call chain)."""
    if values.size == 0:
        raise ValueError("a bootstrap needs at least one value")
    z_value(confidence)  # validates
    rng = np.random.default_rng(seed)
    # Chunked so memory stays ~ chunk·n floats, whatever the resample count.
    chunk = max(1, min(resamples, 2_000_000 // max(values.size, 1)))
    estimates: list[NDArray[np.float64]] = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        picks = rng.integers(0, values.size, size=(size, values.size))
        estimates.append(statistic(values[picks]))
    pooled = np.concatenate(estimates)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(pooled, [tail, 100 - tail])
    return float(low), float(high)


def mean_of_rows(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    result: NDArray[np.float64] = rows.mean(axis=-1)
    return result


def root_mean_of_rows(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    """RMSE from squared errors: the square root of each resample's mean."""
    result: NDArray[np.float64] = np.sqrt(rows.mean(axis=-1))
    return result
