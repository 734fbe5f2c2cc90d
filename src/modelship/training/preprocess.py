"""Typed features in the trainer: raw columns and the fitted plan.

`typed_columns` turns dataset cells into the raw columns of `contracts.features` (numbers with
NaN for missing, categories as text with `MISSING_CATEGORY`), refusing a cell that does not fit
with its column, row and value named. `fit_plan` fits the plan on the *training* rows only; the
plan is our own code, so before anything is published `plan_check.check_plan` proves it equal to
scikit-learn's on the held-out rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from modelship.api.v1alpha1 import MISSING_CATEGORY, FeatureSpec
from modelship.api.v1alpha1.features import MAX_CATEGORY_LENGTH
from modelship.contracts.features import (
    CategoricalStep,
    Columns,
    FeaturePlan,
    NumericStep,
    Step,
)
from modelship.training.errors import BadInput

Encoding = Literal["onehot", "ordinal"]

# Tree ensembles split on thresholds: ordinal codes give them the same partitions in one column
# (and HistGradientBoosting reads them as native categories). Everything else (linear models,
# SVMs, k-NN) would read an order into the codes, so gets one-hot columns.
TREE_ALGORITHMS = frozenset(
    {
        "random_forest", "gradient_boosting", "hist_gradient_boosting", "decision_tree",
        "random_forest_regressor", "gradient_boosting_regressor",
        "hist_gradient_boosting_regressor", "xgboost", "lightgbm",
    }
)  # fmt: skip
NATIVE_MAX_CATEGORIES = 255
"""Most categories a column may have to be handed to a library's native categorical splits."""


def encoding_for(algorithm: str) -> Encoding:
    return "ordinal" if algorithm in TREE_ALGORITHMS else "onehot"


def typed_columns(
    columns: dict[str, NDArray[Any]], specs: Sequence[FeatureSpec], missing: Sequence[str]
) -> Columns:
    """The declared features as raw columns; a cell that does not fit is bad input, named."""
    vocabulary = set(missing)
    out: Columns = {}
    for spec in specs:
        column = columns[spec.name]
        if spec.type == "numeric":
            out[spec.name] = _numbers(spec.name, column, vocabulary)
        else:
            out[spec.name] = _categories(spec.name, column, vocabulary)
    return out


def _numbers(name: str, column: NDArray[Any], missing: set[str]) -> NDArray[np.float64]:
    if column.dtype.kind in "fiub":
        return np.asarray(column, dtype=np.float64)
    # Fast path: numpy parses the present cells in C; only a failure needs the scan below.
    cells = np.char.strip(np.asarray(column, dtype=str))
    gaps = np.isin(cells, list(missing))
    fast = np.full(len(cells), np.nan)
    try:
        fast[~gaps] = cells[~gaps].astype(np.float64)
    except ValueError:
        pass
    else:
        if np.isfinite(fast[~gaps]).all():
            return fast
    values = np.empty(len(column), dtype=np.float64)
    for row, cell in enumerate(column.tolist()):
        text = str(cell).strip()
        if text in missing:
            values[row] = np.nan
            continue
        try:
            values[row] = float(text)
        except ValueError:
            raise BadInput(
                "InvalidDataset",
                f"numeric feature {name!r} has {text[:40]!r} at data row {row + 1}: not a number "
                "nor a missing value (declare it type: categorical, or add it to missingValues)",
            ) from None
        if not np.isfinite(values[row]):
            raise BadInput(
                "InvalidDataset",
                f"numeric feature {name!r} has {text[:40]!r} at data row {row + 1}: not a "
                "finite number (list it in missingValues if it means missing)",
            )
    return values


def _categories(name: str, column: NDArray[Any], missing: set[str]) -> NDArray[Any]:
    cells = [str(cell).strip() for cell in column.tolist()]
    for row, text in enumerate(cells):
        if len(text.encode()) > MAX_CATEGORY_LENGTH:
            raise BadInput(
                "InvalidDataset",
                f"categorical feature {name!r} has a {len(text.encode())}-byte value at data row "
                f"{row + 1} ({text[:40]!r}...); the limit is {MAX_CATEGORY_LENGTH} bytes",
            )
    return np.array([MISSING_CATEGORY if t in missing else t for t in cells], dtype=object)


def fit_plan(
    specs: Sequence[FeatureSpec], train: Columns, missing: Sequence[str], encoding: Encoding
) -> FeaturePlan:
    """Fit every feature on the training rows (the held-out rows are never looked at)."""
    steps: list[Step] = [
        _fit_numeric(spec, train[spec.name])
        if spec.type == "numeric"
        else _fit_categorical(spec, train[spec.name], encoding)
        for spec in specs
    ]
    return FeaturePlan(missing_values=list(missing), features=steps)


def _fit_numeric(spec: FeatureSpec, values: NDArray[np.float64]) -> NumericStep:
    impute = spec.numeric_impute
    if impute == "none":
        return NumericStep(name=spec.name, impute=impute, fill=None)
    if impute == "constant":
        assert spec.fill_value is not None  # the API requires it
        return NumericStep(name=spec.name, impute=impute, fill=float(spec.fill_value))
    # np.ma, as SimpleImputer computes them, so the fill value is the same float to the last bit.
    masked = np.ma.masked_invalid(values)
    fitted = (
        np.ma.median(masked)  # type: ignore[no-untyped-call]
        if impute == "median"
        else np.ma.mean(masked)
    )
    # A column missing in every training row has nothing to learn from: fill with 0, as
    # SimpleImputer(keep_empty_features=True) does.
    fill = 0.0 if np.ma.is_masked(fitted) or fitted is np.ma.masked else float(fitted)
    return NumericStep(name=spec.name, impute=impute, fill=fill)


def _fit_categorical(spec: FeatureSpec, cells: NDArray[Any], encoding: Encoding) -> CategoricalStep:
    if spec.categories is not None:
        vocabulary = [*spec.categories, MISSING_CATEGORY]
        if spec.unknown_policy == "reject":
            known = set(vocabulary)
            if outside := [v for v in dict.fromkeys(cells.tolist()) if v not in known]:
                raise BadInput(
                    "InvalidDataset",
                    f"categorical feature {spec.name!r} has {outside[0][:40]!r} in the training "
                    f"rows, which is not among its categories (onUnknown: reject)",
                )
    else:
        vocabulary = sorted({*cells.tolist(), MISSING_CATEGORY})
    position = {category: i for i, category in enumerate(vocabulary)}
    counts = np.zeros(len(vocabulary), dtype=np.int64)
    for value, count in zip(*np.unique(cells, return_counts=True), strict=True):
        if value in position:
            counts[position[value]] = count
    pooled_mask = np.zeros(len(vocabulary), dtype=bool)
    if spec.max_categories is not None and spec.max_categories < len(vocabulary):
        # scikit-learn's rule (OneHotEncoder/OrdinalEncoder max_categories): keep the
        # max_categories - 1 most frequent, ties going to the later category in vocabulary
        # order (a stable sort of the counts, ascending, pools from the front).
        keep = spec.max_categories - 1
        pooled_mask[np.argsort(counts, kind="mergesort")[:-keep]] = True
    return CategoricalStep(
        name=spec.name,
        encoding=encoding,
        vocabulary=vocabulary,
        kept=[c for c, pooled in zip(vocabulary, pooled_mask, strict=True) if not pooled],
        pooled=[c for c, pooled in zip(vocabulary, pooled_mask, strict=True) if pooled],
        on_unknown=spec.unknown_policy,
        counts=counts.tolist(),
    )


def native_categorical_mask(plan: FeaturePlan) -> list[bool] | None:
    """Which output columns are ordinal category codes a library with native categorical
    splits (LightGBM's categorical_feature, XGBoost's feature_types "c") may be told about;
    None when there are none. Codes are 0..k-1 and -1 for unknown, which those libraries read
    as missing."""
    mask: list[bool] = []
    for step in plan.features:
        if isinstance(step, CategoricalStep) and step.encoding == "ordinal":
            codes = len(step.kept) + (1 if step.pooled else 0)
            mask.append(codes <= NATIVE_MAX_CATEGORIES)
        else:
            mask.extend(False for _ in step.outputs)
    return mask if any(mask) else None
