"""The fitted feature plan proven against scikit-learn before a version is published.

The plan (`preprocess.fit_plan`) is our own code, and serving runs it without scikit-learn; so
the trainer builds scikit-learn's `ColumnTransformer` from the same spec (SimpleImputer,
OneHotEncoder/OrdinalEncoder with the same vocabulary, pooling and unknown policy), fits it on the
same training rows, and `check_plan` requires the two to produce identical matrices on the
held-out rows: the plan is proven, not trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelship.api.v1alpha1 import MISSING_CATEGORY, FeatureSpec
from modelship.contracts.features import CategoricalStep, Columns, FeaturePlan, UnknownCategoryError
from modelship.training.errors import TrainerError
from modelship.training.preprocess import Encoding


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
