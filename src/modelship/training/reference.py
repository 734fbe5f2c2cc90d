"""What a version carries besides the estimator: the acceptance set and the drift profile.

The acceptance set is a slice of the held-out split, so the test stage checks the served model on
rows it never trained on. The profile bins each feature of the *training* data; serving compares
live inputs to it. Bin edges are finite (training min and max outside): live values beyond them
count in the outer bins, as CONTRACT.md specifies.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from modelship.api.v1alpha1 import MISSING_CATEGORY
from modelship.catalog import AcceptanceSet, FeatureProfile, Profile
from modelship.contracts.features import CategoricalStep, Columns, FeaturePlan


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


# --- typed features -----------------------------------------------------------------------

UNKNOWN_BIN = "__unknown__"
"""The last bin of a categorical profile: live values outside the vocabulary (0 in training)."""


def typed_acceptance_set(
    plan: FeaturePlan, held_out: Columns, y_test: npt.NDArray[np.generic], max_rows: int
) -> AcceptanceSet:
    """Held-out rows as typed values: numbers, category text, and None where a value is missing."""
    count = min(max_rows, len(y_test))
    cells: list[list[float | str | None]] = [[] for _ in range(count)]
    for step in plan.features:
        column = held_out[step.name][:count].tolist()
        for row, value in zip(cells, column, strict=True):
            if isinstance(step, CategoricalStep):
                row.append(None if value == MISSING_CATEGORY else str(value))
            else:
                row.append(None if value != value else float(value))  # NaN is missing
    return AcceptanceSet(features=plan.names, inputs=cells, targets=y_test[:count].tolist())


def typed_profile(plan: FeaturePlan, train: Columns, bins: int) -> Profile:
    """Numeric features: bins over the present training values plus their missing share.
    Categorical ones: one bin per vocabulary entry (missing included) and one for unknown."""
    features = []
    for step in plan.features:
        if isinstance(step, CategoricalStep):
            total = max(sum(step.counts), 1)
            categories = [*step.vocabulary, UNKNOWN_BIN]
            features.append(
                FeatureProfile(
                    name=step.name,
                    edges=(np.arange(len(categories) + 1) - 0.5).tolist(),
                    frequencies=[count / total for count in step.counts] + [0.0],
                    categories=categories,
                )
            )
            continue
        column = np.asarray(train[step.name], dtype=np.float64)
        present = column[~np.isnan(column)]
        profiled = _feature(step.name, present if len(present) else np.zeros(1), bins)
        missing = 1.0 - len(present) / len(column) if len(column) else 0.0
        features.append(profiled.model_copy(update={"missing": missing}))
    return Profile(features=features)
