"""The model artifact format: skops, loaded against an allowlist kept here, never in the artifact.

A pickle (joblib) executes code while it is read, so anyone who can write a catalog version could
run code in every pod that loads it — before any approval. skops stores the object graph as data
and refuses, before constructing anything, every type that is neither one of its defaults
(scikit-learn estimators, numpy arrays, builtins) nor named by the caller. The extra names are
`TRUSTED_TYPES` below: the Cython classes the fitted estimators of `api.v1alpha1.ALGORITHMS` hold
(a unit test fits every algorithm and round-trips it). A type outside the list is refused at
publish (the trainer fails the TrainingJob naming it) and again at load (a version written by
something else).

Versions written before skops hold `model.joblib`; they load only when the reader was explicitly
told to accept pickles (`allow_pickle=True`), which is off by default everywhere.

XGBoost and LightGBM models are not scikit-learn objects: they are written in their libraries'
own data formats instead (`model.ubj`, `model.txt`; see boosters.py), never through skops or
pickle. `serialize` picks the format from the model; a version holds exactly one model file.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
from typing import Any

from modelship.catalog import boosters
from modelship.catalog.errors import CatalogError, IntegrityError, UntrustedArtifactError
from modelship.catalog.models import FrameworkInfo

MODEL_FILE = "model.skops"
LEGACY_MODEL_FILE = "model.joblib"
MODEL_FILES = (MODEL_FILE, boosters.XGBOOST_FILE, boosters.LIGHTGBM_FILE, LEGACY_MODEL_FILE)
"""Every name a version's model file can have (one per version)."""

TRUSTED_TYPES: tuple[str, ...] = (
    # random_forest*, gradient_boosting*, decision_tree: the fitted tree structure.
    "sklearn.tree._tree.Tree",
    # hist_gradient_boosting*: one predictor per iteration and class.
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # knn: the neighbour index (kd_tree or ball_tree, whichever `algorithm` picks) and the
    # distance metrics the index can be built with (`metric`/`p` params).
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
)


def untrusted_types(data: bytes, extra: Sequence[str] = ()) -> list[str]:
    """Types in a skops artifact that are neither skops defaults nor on our allowlist nor in
    `extra` (the platform admin's types a Model requested, script mode only); nothing is loaded."""
    import skops.io

    try:
        found = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # not a skops file at all
        raise CatalogError(f"not a readable skops artifact: {exc}") from exc
    return sorted(set(found) - set(TRUSTED_TYPES) - set(extra))


def serialize(model: Any, extra: Sequence[str] = ()) -> tuple[str, bytes]:
    """The model's file name and bytes: its library's own format for a booster, skops otherwise
    (`extra`: the admin's types a script-mode Model requested)."""
    if isinstance(model, boosters.BoosterModel):
        return model.file, model.raw
    return MODEL_FILE, dump_model(model, extra)


def framework_of(model: Any) -> FrameworkInfo | None:
    """What the version's metadata records about the library that wrote a booster's file."""
    if isinstance(model, boosters.BoosterModel):
        return FrameworkInfo(name=model.framework, version=model.version)
    return None


def model_file(files: Collection[str]) -> str:
    """Which of a version's files is its model."""
    for name in MODEL_FILES:
        if name in files:
            return name
    raise IntegrityError("the version has no model artifact")


def dump_model(model: Any, extra: Sequence[str] = ()) -> bytes:
    """Serialise an estimator; refuse one the loader would refuse, naming the types."""
    import skops.io

    try:
        data: bytes = skops.io.dumps(model)
    except Exception as exc:  # skops cannot represent the object at all
        raise UntrustedArtifactError(
            f"the model cannot be saved safely: {exc}", [type(model).__qualname__]
        ) from exc
    refuse_untrusted(data, extra)
    return data


def refuse_untrusted(data: bytes, extra: Sequence[str] = ()) -> None:
    if types := untrusted_types(data, extra):
        raise UntrustedArtifactError(
            f"the model needs types outside Modelship's allowlist: {', '.join(types)}", types
        )


def load_model(data: bytes, extra: Sequence[str] = ()) -> Any:
    """Load verified skops bytes; types outside the allowlist are refused before any is built."""
    import skops.io

    refuse_untrusted(data, extra)
    return skops.io.loads(data, trusted=[*TRUSTED_TYPES, *extra])


def load_pickle(data: bytes) -> Any:
    """Unpickle a legacy joblib artifact (callers check the opt-in: this runs the file's code)."""
    import joblib

    return joblib.load(io.BytesIO(data))
