"""Objects the tests build again and again: the iris Model and Deployment, a staged version.

Each factory returns a fresh, complete, valid object; a test names only what it changes, so
what a test is about stands out from what every test needs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from modelship.catalog import (
    AcceptanceSet,
    AlgorithmInfo,
    DatasetInfo,
    FeatureInfo,
    FeatureProfile,
    GateResult,
    Profile,
    StagedVersion,
    TargetInfo,
)

Obj = dict[str, Any]
API_VERSION = "modelship.io/v1alpha1"

# The iris Model the live tests train: small (20 trees), seeded, one gate it always passes.
IRIS_SPEC: Obj = {
    "task": "classification",
    "dataset": {"uri": "builtin:iris"},
    "algorithm": {"name": "random_forest", "params": {"n_estimators": 20}},
    "evaluation": {"testFraction": 0.3, "seed": 3, "gates": [{"metric": "accuracy", "min": 0.8}]},
}
# Its Deployment: one test replica checked by acceptance, two in production (so a PDB).
IRIS_DEPLOYMENT_SPEC: Obj = {
    "test": {"replicas": 1, "acceptance": {"minAccuracy": 0.8, "maxLatencyMs": 1000}},
    "production": {"replicas": 2},
}


def iris_model(
    name: str = "iris", *, seed: int = 3, metadata: Obj | None = None, **spec: Any
) -> Obj:
    """A Model manifest; `spec` keys replace the iris ones whole (`evaluation=...` replaces
    the seed too). `metadata` adds to the name (a namespace and uid for pure builders)."""
    body: Obj = {
        "apiVersion": API_VERSION,
        "kind": "Model",
        "metadata": {"name": name, **(metadata or {})},
        "spec": copy.deepcopy(IRIS_SPEC),
    }
    body["spec"]["evaluation"]["seed"] = seed
    body["spec"].update(copy.deepcopy(spec))
    return body


def iris_deployment(
    name: str = "iris", *, model: str | None = None, metadata: Obj | None = None, **spec: Any
) -> Obj:
    """A modelship Deployment manifest of Model `model` (default: the same name)."""
    body: Obj = {
        "apiVersion": API_VERSION,
        "kind": "Deployment",
        "metadata": {"name": name, **(metadata or {})},
        "spec": {"modelRef": {"name": model or name}, **copy.deepcopy(IRIS_DEPLOYMENT_SPEC)},
    }
    body["spec"].update(copy.deepcopy(spec))
    return body


def staged_version(
    model: Any, *, task: str = "regression", names: Sequence[str] = ("x",), **fields: Any
) -> StagedVersion:
    """The smallest complete version to publish: one feature per name, one acceptance row.
    `fields` replace any StagedVersion field."""
    defaults: Obj = {
        "model": model,
        "task": task,
        "algorithm": AlgorithmInfo(name="ridge"),
        "dataset": DatasetInfo(uri="builtin:diabetes", digest="sha256:0", rows=1),
        "features": [FeatureInfo(name=n) for n in names],
        "target": TargetInfo(name="y"),
        "acceptance": AcceptanceSet(
            features=list(names), inputs=[[1.0] * len(names)], targets=[2.0]
        ),
        "profile": Profile(
            features=[FeatureProfile(name=n, edges=[0.0, 1.0], frequencies=[1.0]) for n in names]
        ),
    }
    return StagedVersion(**{**defaults, **fields})


IRIS_NAMES = ["sl", "sw", "pl", "pw"]


def iris_staged_version(model: Any = None, *, passed: bool = True, **fields: Any) -> StagedVersion:
    """A working iris classifier (a decision tree unless `model`), its accuracy gate `passed`."""
    # Imported here: a publisher child process (test_catalog_concurrency) needs no sklearn.
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True)
    iris: Obj = {
        "algorithm": AlgorithmInfo(name="decision_tree", params={"random_state": 0}),
        "dataset": DatasetInfo(uri="builtin:iris", digest="sha256:" + "0" * 64, rows=150),
        "target": TargetInfo(name="target", classes=[0, 1, 2]),
        "acceptance": AcceptanceSet(
            features=IRIS_NAMES, inputs=x[:5].tolist(), targets=y[:5].tolist()
        ),
        "profile": Profile(
            features=[
                FeatureProfile(name=n, edges=[0.0, 4.0, 8.0], frequencies=[0.5, 0.5])
                for n in IRIS_NAMES
            ]
        ),
        "metrics": {"accuracy": 1.0},
        "gates": [GateResult(metric="accuracy", value=1.0, bound=">= 0.9", min=0.9, passed=passed)],
        "training_job": "iris-abc12",
    }
    estimator = model if model is not None else DecisionTreeClassifier(random_state=0).fit(x, y)
    return staged_version(estimator, task="classification", names=IRIS_NAMES, **{**iris, **fields})
