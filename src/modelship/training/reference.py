"""What a version carries besides the estimator: the acceptance set and the drift profile.

The acceptance set is a slice of the held-out split, so the test stage checks the served model on
rows it never trained on. The profile bins each feature of the *training* data; serving compares
live inputs to it. Bin edges are finite (training min and max outside): live values beyond them
count in the outer bins, as CONTRACT.md specifies.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from modelship.catalog import AcceptanceSet, FeatureProfile, Profile


def acceptance_set(
    features: list[str],
    x_test: npt.NDArray[np.float64],
    y_test: npt.NDArray[np.generic],
    max_rows: int,
) -> AcceptanceSet:
    return AcceptanceSet(
        features=features,
        inputs=x_test[:max_rows].tolist(),
        targets=y_test[:max_rows].tolist(),
    )


def profile(features: list[str], x_train: npt.NDArray[np.float64], bins: int) -> Profile:
    return Profile(
        features=[_feature(name, x_train[:, i], bins) for i, name in enumerate(features)]
    )


def _feature(name: str, column: npt.NDArray[np.float64], bins: int) -> FeatureProfile:
    distinct = np.unique(column)
    if len(distinct) == 1:
        # A constant feature: one bin around it, so any live change shows up as "outside".
        value = float(distinct[0])
        edges = np.array([value - 0.5, value + 0.5])
    elif len(distinct) <= bins:
        # Few distinct values (flags, counts): one bin per value, split halfway between them,
        # because quantile edges would merge them and hide a shift between categories.
        middles = (distinct[:-1] + distinct[1:]) / 2
        edges = np.concatenate([[distinct[0]], middles, [distinct[-1]]])
    else:
        edges = np.unique(np.quantile(column, np.linspace(0.0, 1.0, bins + 1)))
    counts, _ = np.histogram(column, bins=edges)
    frequencies = counts / counts.sum()
    return FeatureProfile(name=name, edges=edges.tolist(), frequencies=frequencies.tolist())
