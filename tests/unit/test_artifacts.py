"""Model artifacts are skops files loaded against our allowlist: nothing in them runs code.

Every algorithm the API offers is fitted and round-tripped (its predictions survive); a type
outside the allowlist is refused before it is constructed, at publish (the trainer fails naming
it) and at load; legacy joblib versions load only when explicitly allowed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import skops.io
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_diabetes, load_iris

from modelship.api.v1alpha1 import ALGORITHMS
from modelship.catalog import (
    LEGACY_MODEL_FILE,
    FileCatalog,
    UntrustedArtifactError,
    VerifiedVersion,
    artifacts,
    version_digest,
)
from modelship.catalog.digests import digest_bytes
from modelship.training.algorithms import build_estimator, registry
from support.factories import iris_staged_version

SIDE_EFFECTS: list[str] = []


class Booby(BaseEstimator, ClassifierMixin):  # type: ignore[misc]
    """An estimator whose construction from an artifact would be visible (code of the artifact)."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        SIDE_EFFECTS.append("ran")
        self.__dict__.update(state)

    def fit(self, x: Any, y: Any) -> Booby:
        return self


# XGBoost and LightGBM are written in their own formats, never with skops (test_boosters.py).
SKOPS_ALGORITHMS = sorted(
    (name, task)
    for name, tasks in ALGORITHMS.items()
    for task in tasks
    if registry()[name].framework is None
)


@pytest.mark.parametrize(("name", "task"), SKOPS_ALGORITHMS)
def test_every_algorithm_round_trips_through_the_allowlist(name: str, task: Any) -> None:
    x, y = (load_iris if task == "classification" else load_diabetes)(return_X_y=True)
    estimator = build_estimator(name, {}, task, seed=0).estimator.fit(x, y)

    data = artifacts.dump_model(estimator)
    loaded = artifacts.load_model(data)

    assert artifacts.untrusted_types(data) == []
    np.testing.assert_array_equal(loaded.predict(x), estimator.predict(x))


@pytest.mark.parametrize("params", [{"algorithm": "ball_tree"}, {"metric": "manhattan"}])
def test_knn_indexes_and_metrics_a_model_may_choose_are_allowed(params: dict[str, Any]) -> None:
    x, y = load_iris(return_X_y=True)
    estimator = build_estimator("knn", params, "classification", seed=0).estimator.fit(x, y)

    loaded = artifacts.load_model(artifacts.dump_model(estimator))

    np.testing.assert_array_equal(loaded.predict(x), estimator.predict(x))


def test_a_type_outside_the_allowlist_is_refused_before_it_is_built() -> None:
    data = skops.io.dumps(Booby())
    SIDE_EFFECTS.clear()

    with pytest.raises(UntrustedArtifactError, match=r"test_artifacts\.Booby") as refused:
        artifacts.load_model(data)

    assert refused.value.types == [f"{__name__}.Booby"]
    assert SIDE_EFFECTS == []
    # The same bytes do run code when trusted: the refusal above is what kept it from running.
    skops.io.loads(data, trusted=[f"{__name__}.Booby"])
    assert SIDE_EFFECTS == ["ran"]


def test_publishing_a_model_outside_the_allowlist_names_the_type(tmp_path: Path) -> None:
    catalog = FileCatalog(tmp_path / "catalog")

    with pytest.raises(UntrustedArtifactError, match="Booby"):
        catalog.publish("ns", "iris", iris_staged_version(model=Booby()))

    assert catalog.version_numbers("ns", "iris") == []


def test_the_trainer_fails_naming_a_type_the_allowlist_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelship.training.main import main

    monkeypatch.setattr(artifacts, "TRUSTED_TYPES", ())  # as if trees were not vetted
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(
        json.dumps(
            {
                "task": "classification",
                "dataset": {"uri": "builtin:iris"},
                "algorithm": {"name": "decision_tree"},
            }
        )
    )
    termination = tmp_path / "termination"

    code = main(
        [
            "--snapshot-file",
            str(snapshot),
            "--catalog-root",
            str(tmp_path / "catalog"),
            "--model-name",
            "iris",
            "--termination-message-path",
            str(termination),
        ]
    )

    failure = json.loads(termination.read_text())
    assert code == 2
    assert failure["reason"] == "UntrustedArtifactType"
    assert "sklearn.tree._tree.Tree" in failure["error"]
    assert FileCatalog(tmp_path / "catalog").version_numbers("default", "iris") == []


def legacy_version(tmp_path: Path) -> VerifiedVersion:
    """A version as Modelship wrote them before skops: a joblib pickle, digests and all."""
    x, y = load_iris(return_X_y=True)
    published = FileCatalog(tmp_path / "catalog").publish("ns", "iris", iris_staged_version())
    buffer = io.BytesIO()
    estimator = build_estimator("decision_tree", {}, "classification", 0).estimator
    joblib.dump(estimator.fit(x, y), buffer)
    (tmp_path / LEGACY_MODEL_FILE).write_bytes(buffer.getvalue())
    files = {LEGACY_MODEL_FILE: digest_bytes(buffer.getvalue())}
    metadata = published.model_copy(update={"files": files, "digest": version_digest(files)})
    return VerifiedVersion(metadata, tmp_path)


def test_legacy_pickles_are_refused_unless_explicitly_allowed(tmp_path: Path) -> None:
    version = legacy_version(tmp_path)
    x, y = load_iris(return_X_y=True)

    with pytest.raises(UntrustedArtifactError, match="pickle"):
        version.load_model()

    assert (version.load_model(allow_pickle=True).predict(x) == y).mean() > 0.9
