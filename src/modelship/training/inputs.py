"""From the loaded table to what the estimator fits and the version stores, split once.

Two ways in: untyped features (bare names) are numbers without gaps and become the matrix as
they are, exactly as before typed features existed; typed features are split *first*, then the
feature plan is fitted on the training rows alone, checked against scikit-learn on the held-out
rows, and applied to both. Either way the same seeded, stratified split is used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from modelship.api.v1alpha1 import FeatureSpec, TrainingSnapshot
from modelship.catalog import AcceptanceSet, FeatureInfo, Profile
from modelship.contracts.features import CategoricalStep, FeaturePlan
from modelship.training import evaluation, plan_check, preprocess, reference
from modelship.training.datasets import BUILTIN_TARGET, Table
from modelship.training.errors import BadInput
from modelship.training.production import LabelledRow, Selection, to_columns
from modelship.training.tables import prepare, rows_like, select, target_like, target_values

Columns = dict[str, npt.NDArray[np.generic]]
T = TypeVar("T")


@dataclass(frozen=True)
class ProductionPart:
    """The production rows as the estimator sees them: how many were added to the training
    part (its last `rows` rows), their weights, and the held-out newest window."""

    rows: list[LabelledRow]
    weights: npt.NDArray[np.float64] | None
    """One weight per training row (the dataset's 1), or None when every row counts 1."""
    holdout: list[LabelledRow]
    x_holdout: npt.NDArray[np.float64]
    y_holdout: npt.NDArray[np.generic]
    refused: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Inputs:
    features: list[FeatureInfo]
    target: str
    classes: list[int | float | str] | None
    split: evaluation.Split
    acceptance: AcceptanceSet
    profile: Profile
    plan: FeaturePlan | None
    production: ProductionPart | None = None


def build_inputs(
    table: Table,
    snapshot: TrainingSnapshot,
    acceptance_rows: int,
    profile_bins: int,
    production: Selection | None = None,
) -> Inputs:
    if snapshot.dataset.typed:
        return _typed(table, snapshot, acceptance_rows, profile_bins, production)
    return _numeric(table, snapshot, acceptance_rows, profile_bins, production)


def _numeric(
    table: Table,
    snapshot: TrainingSnapshot,
    acceptance_rows: int,
    profile_bins: int,
    production: Selection | None,
) -> Inputs:
    target = snapshot.dataset.target or BUILTIN_TARGET
    data = prepare(table.columns, target, snapshot.dataset.feature_names(), snapshot.task)
    seed = snapshot.evaluation.seed
    parts = evaluation.split(data.x, data.y, snapshot.task, snapshot.evaluation.test_fraction, seed)
    part = None
    if production is not None:
        refused: Counter[str] = Counter()
        convert = _converter(data.features, data.target, snapshot, data.classes, None, refused)

        def numeric_rows(
            columns: Columns,
        ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.generic]]:
            return rows_like(columns, target, data.features, snapshot.task)

        (x, y), kept = convert(production.train, numeric_rows)
        (x_hold, y_hold), held = convert(production.holdout, numeric_rows)
        parts = _with_rows(parts, x, y)
        part = ProductionPart(kept, _weights(snapshot, len(parts.y_train), len(kept)), held,
                              x_hold, y_hold, refused)  # fmt: skip
    return Inputs(
        features=[FeatureInfo(name=name, dtype="float64") for name in data.features],
        target=data.target,
        classes=data.classes,
        split=parts,
        acceptance=reference.acceptance_set(
            data.features, parts.x_test, parts.y_test, acceptance_rows
        ),
        profile=reference.profile(data.features, parts.x_train, profile_bins),
        plan=None,
        production=part,
    )


def _typed(
    table: Table,
    snapshot: TrainingSnapshot,
    acceptance_rows: int,
    profile_bins: int,
    production: Selection | None,
) -> Inputs:
    dataset = snapshot.dataset
    target = dataset.target or BUILTIN_TARGET
    specs = dataset.feature_specs()
    if specs is None:  # only missingValues given: every other column, as numbers
        specs = [FeatureSpec(name=name) for name in select(table.columns, target, None)]
    else:
        select(table.columns, target, [spec.name for spec in specs])
    missing = dataset.missing_vocabulary
    raw = preprocess.typed_columns(table.columns, specs, missing)
    y, classes = target_values(table.columns, target, snapshot.task)
    # Split row numbers, then take the rows: the same split the untyped path makes for this y.
    rows = np.arange(len(y), dtype=np.float64).reshape(-1, 1)
    by_index = evaluation.split(
        rows, y, snapshot.task, snapshot.evaluation.test_fraction, snapshot.evaluation.seed
    )
    train_rows = by_index.x_train[:, 0].astype(np.intp)
    test_rows = by_index.x_test[:, 0].astype(np.intp)
    train = {name: column[train_rows] for name, column in raw.items()}
    held_out = {name: column[test_rows] for name, column in raw.items()}
    y_train = by_index.y_train
    refused: Counter[str] = Counter()
    names = [spec.name for spec in specs]
    gap = missing[0] if missing else None
    convert = _converter(names, target, snapshot, classes, gap, refused)

    def typed_rows(
        columns: dict[str, npt.NDArray[np.generic]],
    ) -> tuple[dict[str, npt.NDArray[np.generic]], npt.NDArray[np.generic]]:
        return preprocess.typed_columns(columns, specs, missing), target_like(
            columns[target], target, snapshot.task
        )

    if production is not None:
        (extra, y_extra), kept = convert(production.train, typed_rows)
        (hold_raw, y_hold), held = convert(production.holdout, typed_rows)
        if kept:
            train = {name: np.concatenate([train[name], extra[name]]) for name in train}
            y_train = np.concatenate([y_train, y_extra])

    if snapshot.algorithm is None:  # script mode refuses typed features before reading data
        raise BadInput("InvalidCode", "typed features need a built-in algorithm")
    encoding = preprocess.encoding_for(snapshot.algorithm.name)
    plan = preprocess.fit_plan(specs, train, missing, encoding)
    plan_check.check_plan(plan, specs, train, held_out)
    parts = evaluation.Split(
        x_train=plan.compile()(train),
        x_test=lenient(plan).compile()(held_out),
        y_train=y_train,
        y_test=by_index.y_test,
    )
    part = None
    if production is not None:
        x_hold = (
            lenient(plan).compile()(hold_raw)
            if held
            else np.empty((0, len(plan.features)), dtype=np.float64)
        )
        part = ProductionPart(kept, _weights(snapshot, len(y_train), len(kept)), held,
                              x_hold, y_hold, refused)  # fmt: skip
    # The acceptance Job replays held-out rows against the served model: only rows it accepts.
    accepted = _acceptable(plan, held_out)
    return Inputs(
        features=[
            FeatureInfo(
                name=step.name,
                dtype="string" if isinstance(step, CategoricalStep) else "float64",
                type=step.type,
            )
            for step in plan.features
        ],
        target=target,
        classes=classes,
        split=parts,
        acceptance=reference.typed_acceptance_set(
            plan,
            {name: column[accepted] for name, column in held_out.items()},
            parts.y_test[accepted],
            acceptance_rows,
        ),
        profile=reference.typed_profile(plan, train, profile_bins),
        plan=plan,
        production=part,
    )


def _converter(
    features: list[str],
    target: str,
    snapshot: TrainingSnapshot,
    classes: list[int | float | str] | None,
    gap: str | None,
    refused: Counter[str],
) -> Callable[[list[LabelledRow], Callable[[Columns], T]], tuple[T, list[LabelledRow]]]:
    """Rows to the dataset's columns (refusals counted), then through `convert`."""

    def run(
        rows: list[LabelledRow], convert: Callable[[Columns], T]
    ) -> tuple[T, list[LabelledRow]]:
        columns, kept = to_columns(rows, features=features, target=target, task=snapshot.task,
                                   classes=classes, missing_token=gap, refused=refused)  # fmt: skip
        return convert(columns), kept

    return run


def _with_rows(
    parts: evaluation.Split, x: npt.NDArray[np.float64], y: npt.NDArray[np.generic]
) -> evaluation.Split:
    if not len(y):
        return parts
    return evaluation.Split(
        x_train=np.vstack([parts.x_train, x]),
        x_test=parts.x_test,
        y_train=np.concatenate([parts.y_train, y]),
        y_test=parts.y_test,
    )


def _weights(
    snapshot: TrainingSnapshot, train_rows: int, production_rows: int
) -> npt.NDArray[np.float64] | None:
    """1 for the dataset's rows, `weight` for the production rows (the last ones)."""
    spec = snapshot.dataset.production
    if spec is None or spec.weight == 1.0 or not production_rows:
        return None
    weights = np.ones(train_rows, dtype=np.float64)
    weights[train_rows - production_rows :] = spec.weight
    return weights


def lenient(plan: FeaturePlan) -> FeaturePlan:
    """The plan with every `reject` made `ignore`, for scoring the held-out rows: a category
    unseen in training is one the model refuses in production too, but the metrics stay over
    every held-out row (it is scored as unknown: no one-hot column set, code -1)."""
    steps = [
        step.model_copy(update={"on_unknown": "ignore"})
        if isinstance(step, CategoricalStep)
        else step
        for step in plan.features
    ]
    return plan.model_copy(update={"features": steps})


def _acceptable(
    plan: FeaturePlan, columns: dict[str, npt.NDArray[np.generic]]
) -> npt.NDArray[np.bool_]:
    keep = np.ones(len(next(iter(columns.values()))), dtype=bool)
    for step in plan.features:
        if isinstance(step, CategoricalStep) and step.on_unknown == "reject":
            known = set(step.vocabulary)
            keep &= np.fromiter((v in known for v in columns[step.name].tolist()), bool)
    return keep
