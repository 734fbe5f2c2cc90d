"""Typed features in the trainer: raw columns, the fitted plan, and its check against scikit-learn.

`typed_columns` turns dataset cells into the raw columns of `contracts.features` (numbers with
NaN for missing, categories as text with `MISSING_CATEGORY`), refusing a cell that does not fit
with its column, row and value named. `fit_plan` fits the plan on the *training* rows only.
`reference_transformer` is scikit-learn's `ColumnTransformer` configured from the same spec
(SimpleImputer, OneHotEncoder/OrdinalEncoder with the same vocabulary, pooling and unknown
policy), and `check_plan` requires the two to produce identical matrices on the held-out rows
before anything is published: the plan is our own code, so it is proven, not trusted.
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
    UnknownCategoryError,
)
from modelship.training.errors import BadInput, TrainerError

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


# --- the scikit-learn reference -------------------------------------------------------------


def reference_transformer(specs: Sequence[FeatureSpec], train: Columns, encoding: Encoding) -> Any:
    """scikit-learn's ColumnTransformer for the same spec, fitted on the same training rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    parts: list[tuple[str, Any, list[int]]] = []
    for i, spec in enumerate(specs):
        step: Any
        if spec.type == "numeric":
            impute = spec.numeric_impute
            if impute == "none":
                step = "passthrough"
            elif impute == "constant":
                step = SimpleImputer(strategy="constant", fill_value=spec.fill_value)
            else:
                step = SimpleImputer(strategy=impute, keep_empty_features=True)
        else:
            # What OneHotEncoder would learn (the imputed column's sorted values), plus the
            # missing category, which the plan always knows (a gap is never "unknown").
            learned = {c for c in train[spec.name].tolist() if isinstance(c, str)}
            categories = (
                [*spec.categories, MISSING_CATEGORY]
                if spec.categories is not None
                else sorted({*learned, MISSING_CATEGORY})
            )
            unknown = spec.unknown_policy
            encoder: Any
            if encoding == "onehot":
                encoder = OneHotEncoder(
                    categories=[categories],
                    handle_unknown="ignore" if unknown == "ignore" else "error",
                    max_categories=spec.max_categories,
                    sparse_output=False,
                    dtype=np.float64,
                )
            else:
                encoder = OrdinalEncoder(
                    categories=[categories],
                    handle_unknown="use_encoded_value" if unknown == "ignore" else "error",
                    unknown_value=-1 if unknown == "ignore" else None,
                    max_categories=spec.max_categories,
                    dtype=np.float64,
                )
            step = make_pipeline(
                SimpleImputer(
                    strategy="constant", fill_value=MISSING_CATEGORY, keep_empty_features=True
                ),
                encoder,
            )
        parts.append((f"f{i}", step, [i]))
    transformer = ColumnTransformer(parts, sparse_threshold=0.0)
    transformer.fit(sklearn_matrix(specs, train))
    return transformer


def sklearn_matrix(specs: Sequence[FeatureSpec], columns: Columns) -> NDArray[Any]:
    """The raw columns as one object matrix, missing as NaN (what SimpleImputer looks for)."""
    n = len(columns[specs[0].name])
    matrix = np.empty((n, len(specs)), dtype=object)
    for i, spec in enumerate(specs):
        column = columns[spec.name]
        matrix[:, i] = column if spec.type == "numeric" else _as_sklearn_categories(column)
    return matrix


def _as_sklearn_categories(column: NDArray[Any]) -> NDArray[Any]:
    out = np.asarray(column, dtype=object).copy()
    out[out == MISSING_CATEGORY] = np.nan
    return out


def check_plan(
    plan: FeaturePlan, specs: Sequence[FeatureSpec], train: Columns, held_out: Columns
) -> None:
    """Fail loudly unless the plan's transform equals the ColumnTransformer's on held-out rows."""
    encoding: Encoding = next(
        (s.encoding for s in plan.features if isinstance(s, CategoricalStep)), "onehot"
    )
    reference = reference_transformer(specs, train, encoding)
    rows = held_out
    try:
        ours = plan.compile()(held_out)
    except UnknownCategoryError:
        # An unknown category under reject in the held-out rows: scikit-learn refuses too;
        # compare on the rows both accept.
        accepted = _accepted_rows(plan, held_out)
        if accepted is None:
            return
        rows = accepted
        ours = plan.compile()(rows)
    theirs = np.asarray(reference.transform(sklearn_matrix(specs, rows)), dtype=np.float64)
    if ours.shape != theirs.shape or not np.array_equal(ours, theirs, equal_nan=True):
        raise TrainerError(
            "PreprocessingMismatch",
            "the fitted feature plan disagrees with scikit-learn's ColumnTransformer on the "
            f"held-out rows (shapes {ours.shape} and {theirs.shape}); refusing to publish",
        )


def _accepted_rows(plan: FeaturePlan, columns: Columns) -> Columns | None:
    keep = np.ones(len(next(iter(columns.values()))), dtype=bool)
    for step in plan.features:
        if isinstance(step, CategoricalStep) and step.on_unknown == "reject":
            known = set(step.vocabulary)
            keep &= np.fromiter((v in known for v in columns[step.name]), bool)
    if not keep.any():
        return None
    return {name: column[keep] for name, column in columns.items()}
