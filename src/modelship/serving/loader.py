"""Loading the served version from the catalog, failing closed.

The catalog verifies every file against the digests recorded at publish time, and the version
digest against the one the operator approved, before joblib sees a byte: unpickling executes
code, so an artifact that is not exactly the published one is never loaded. Any failure becomes
a `LoadFailedError` whose message is what the ready routes report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelship.catalog import (
    AcceptanceSet,
    CatalogError,
    OciCatalog,
    VersionMetadata,
    open_catalog,
)
from modelship.serving.drift import FeatureBins
from modelship.serving.features import ServedFeatures
from modelship.serving.runtime import ModelRuntime, build_runtime
from modelship.serving.settings import ServingSettings

log = logging.getLogger(__name__)


class LoadFailedError(Exception):
    """The version cannot be served; the message says why (shown on the ready routes)."""


@dataclass(frozen=True, slots=True)
class LoadedVersion:
    metadata: VersionMetadata
    runtime: ModelRuntime
    profile: list[FeatureBins]
    check_predictions: np.ndarray[Any, Any]
    """The model's predictions on the held-out rows (regression metric buckets come from these)."""
    features: ServedFeatures | None = None
    """Typed features: the fitted plan and request schema (None: untyped numeric features)."""


def load_version(settings: ServingSettings) -> LoadedVersion:
    """Verify, then load, the configured version; raise LoadFailedError with a reason otherwise."""
    try:
        catalog = open_catalog(settings.catalog_root)
        if isinstance(catalog, OciCatalog) and not settings.artifact:
            # Without the manifest digest the only way in is a tag, and tags can be moved.
            raise LoadFailedError("a registry version is served only when pinned by digest")
        version = catalog.open_verified(
            settings.namespace,
            settings.model_name,
            settings.version,
            settings.expected_digest,
            pinned=settings.artifact,
        )
        for warning in version.warnings:
            log.warning("%s", warning)
        metadata = version.metadata
        estimator = version.load_model(
            allow_pickle=settings.allow_pickle_artifacts,
            trusted=tuple(settings.trusted_types or ()),
        )
        acceptance = version.acceptance()
        profile = version.profile()
        plan = version.feature_plan()
    except CatalogError as error:
        raise LoadFailedError(str(error)) from error
    except Exception as error:  # an unreadable artifact is a reason to stay not-ready, not crash
        raise LoadFailedError(f"artifact could not be loaded: {error}") from error
    if settings.expected_digest is None:
        log.warning("no expected digest configured; serving %s as published", metadata.digest)
    features = [feature.name for feature in metadata.features]
    by_name = {feature.name: feature for feature in profile.features}
    missing = [name for name in features if name not in by_name]
    if missing:
        raise LoadFailedError(f"reference profile lacks features: {', '.join(missing)}")
    served_features = None
    if plan is None:
        columns = features
        check_rows = _numeric_rows(acceptance, features)
    else:
        try:
            served_features = ServedFeatures.build(plan, by_name, settings.limits.max_cell_bytes)
            held_out = served_features.acceptance_columns(acceptance)
            check_rows = served_features.matrix(held_out)
            served_features = served_features.with_fast_path(held_out)
        except Exception as error:
            raise LoadFailedError(f"feature plan does not fit the version: {error}") from error
        columns = plan.output_columns
    try:
        runtime = build_runtime(estimator, columns, metadata.task, check_rows, onnx=settings.onnx)
    except Exception as error:
        raise LoadFailedError(f"model does not fit its metadata: {error}") from error
    log.info(
        "loaded %s/%s version %d (%s) with the %s engine, %.0f µs per single row",
        metadata.namespace,
        metadata.model,
        metadata.version,
        metadata.digest,
        runtime.engine,
        runtime.single_row_seconds * 1e6,
    )
    return LoadedVersion(
        metadata=metadata,
        runtime=runtime,
        profile=[
            FeatureBins(name, by_name[name].edges, by_name[name].frequencies, by_name[name].missing)
            for name in features
        ],
        check_predictions=runtime.predict(check_rows).labels if len(check_rows) else np.empty(0),
        features=served_features,
    )


def _numeric_rows(acceptance: AcceptanceSet, features: list[str]) -> np.ndarray[Any, Any]:
    column = {name: i for i, name in enumerate(acceptance.features)}
    if any(name not in column for name in features):
        raise LoadFailedError("acceptance set does not cover the model's features")
    return np.asarray(
        [[row[column[name]] for name in features] for row in acceptance.inputs], dtype=np.float64
    ).reshape(-1, len(features))
