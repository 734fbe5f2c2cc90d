"""Versions published into a temporary catalog for the inference server's tests and benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelship.catalog import (
    AcceptanceSet,
    AlgorithmInfo,
    DatasetInfo,
    FeatureInfo,
    FeatureProfile,
    Profile,
    StagedVersion,
    TargetInfo,
    VersionMetadata,
    open_catalog,
)

NAMESPACE = "ml"
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def publish(
    root: Path, model: str, estimator: Any, x: np.ndarray, y: np.ndarray, names: list[str]
) -> VersionMetadata:
    task = "classification" if hasattr(estimator, "predict_proba") else "regression"
    estimator.fit(x, y)
    edges = [np.unique(np.quantile(x[:, i], np.linspace(0, 1, 11))) for i in range(x.shape[1])]
    profile = Profile(
        features=[
            FeatureProfile(
                name=name,
                edges=e.tolist(),
                frequencies=(np.histogram(x[:, i], bins=e)[0] / len(x)).tolist(),
            )
            for i, (name, e) in enumerate(zip(names, edges, strict=True))
        ]
    )
    staged = StagedVersion(
        model=estimator,
        task=task,
        algorithm=AlgorithmInfo(name=type(estimator).__name__, params={}),
        dataset=DatasetInfo(uri=f"builtin:{model}", digest="sha256:" + "0" * 64, rows=len(x)),
        features=[FeatureInfo(name=n) for n in names],
        target=TargetInfo(
            name="target", classes=np.unique(y).tolist() if task == "classification" else None
        ),
        acceptance=AcceptanceSet(features=names, inputs=x[::5].tolist(), targets=y[::5].tolist()),
        profile=profile,
    )
    return open_catalog(str(root)).publish(NAMESPACE, model, staged)
