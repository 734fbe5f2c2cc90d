"""From the loaded table to what the estimator fits and the version stores, split once.

Two ways in: untyped features (bare names) are numbers without gaps and become the matrix as
they are, exactly as before typed features existed; typed features are split *first*, then the
feature plan is fitted on the training rows alone, checked against scikit-learn on the held-out
rows, and applied to both. Either way the same seeded, stratified split is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from modelship.api.v1alpha1 import FeatureSpec, TrainingSnapshot
from modelship.catalog import AcceptanceSet, FeatureInfo, Profile
from modelship.contracts.features import CategoricalStep, FeaturePlan
from modelship.training import evaluation, preprocess, reference
from modelship.training.datasets import BUILTIN_TARGET, Table
from modelship.training.errors import BadInput
from modelship.training.tables import prepare, select, target_values


@dataclass(frozen=True)
class Inputs:
    features: list[FeatureInfo]
    target: str
    classes: list[int | float | str] | None
    split: evaluation.Split
    acceptance: AcceptanceSet
    profile: Profile
    plan: FeaturePlan | None


def build_inputs(
    table: Table, snapshot: TrainingSnapshot, acceptance_rows: int, profile_bins: int
) -> Inputs:
    if snapshot.dataset.typed:
        return _typed(table, snapshot, acceptance_rows, profile_bins)
    return _numeric(table, snapshot, acceptance_rows, profile_bins)


def _numeric(
    table: Table, snapshot: TrainingSnapshot, acceptance_rows: int, profile_bins: int
) -> Inputs:
    target = snapshot.dataset.target or BUILTIN_TARGET
    data = prepare(table.columns, target, snapshot.dataset.feature_names(), snapshot.task)
    seed = snapshot.evaluation.seed
    parts = evaluation.split(data.x, data.y, snapshot.task, snapshot.evaluation.test_fraction, seed)
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
    )


def _typed(
    table: Table, snapshot: TrainingSnapshot, acceptance_rows: int, profile_bins: int
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

    if snapshot.algorithm is None:  # script mode refuses typed features before reading data
        raise BadInput("InvalidCode", "typed features need a built-in algorithm")
    encoding = preprocess.encoding_for(snapshot.algorithm.name)
    plan = preprocess.fit_plan(specs, train, missing, encoding)
    preprocess.check_plan(plan, specs, train, held_out)
    parts = evaluation.Split(
        x_train=plan.compile()(train),
        x_test=_lenient(plan).compile()(held_out),
        y_train=by_index.y_train,
        y_test=by_index.y_test,
    )
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
    )


def _lenient(plan: FeaturePlan) -> FeaturePlan:
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
