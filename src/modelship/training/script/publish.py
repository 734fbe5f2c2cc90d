"""`python -m modelship.training.script.publish`: the last container of a script-mode pod.

The only container that holds the catalog's write access (the volume, or the registry Secret
mounted at `$DOCKER_CONFIG`), and the only one besides prepare that sees the held-out rows. It
treats the code container's output as untrusted bytes: their skops types are listed *without
loading* and refused unless each is a skops default, on Modelship's allowlist, or one the Model
requested and the admin allowed (`allowed_types` from this container's own environment, never
from the artifact). Only then is the estimator loaded, checked to be one, evaluated on the
held-out rows with every gated metric, and published with the code's digest in its lineage.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from modelship.catalog import AlgorithmInfo, CatalogError, artifacts, open_catalog
from modelship.contracts.training import TrainerEnv, TrainerSummary
from modelship.contracts.training_code import HOLDOUT, MODEL_OUTPUT, OUTPUT
from modelship.training.errors import BadInput
from modelship.training.main import catalog_errors, run_step
from modelship.training.run import load_snapshot, publish_fitted
from modelship.training.script.child import is_estimator, type_name
from modelship.training.script.handoff import read_handoff
from modelship.training.script.prepare import check_requested_types, code_spec
from modelship.training.settings import TrainerSettings

ALGORITHM_NAME = "code"
"""`algorithm.name` of a version trained by the Model's own code (its params say which)."""


def load_checked(data: bytes, extra: tuple[str, ...]) -> Any:
    """The estimator in `data`, after refusing any type not trusted (named), without loading."""
    try:
        untrusted = artifacts.untrusted_types(data, extra)
    except CatalogError as exc:
        raise BadInput("InvalidModelOutput", f"the training code's output: {exc}") from exc
    if untrusted:
        raise BadInput(
            "UntrustedType",
            f"the estimator returned by the training code holds types outside the allowlist: "
            f"{', '.join(untrusted)} (a platform admin may allow them in the operator's "
            "allowed_artifact_types; the Model then requests them in training.code.trustedTypes)",
        )
    try:
        estimator = artifacts.load_model(data, extra)
    except Exception as exc:
        raise BadInput("InvalidModelOutput", f"the training code's output: {exc}") from exc
    if not is_estimator(estimator):
        raise BadInput(
            "NotAnEstimator",
            f"the training code returned {type_name(estimator)}, not a fitted estimator",
        )
    return estimator


def publish(settings: TrainerSettings) -> TrainerSummary:
    """The whole step as a function (tests call it on a temporary `work_root`)."""
    snapshot = load_snapshot(settings)
    code = code_spec(snapshot)
    check_requested_types(code, settings)
    if not settings.catalog_root:
        raise BadInput("InvalidConfiguration", f"{TrainerEnv.env_name('catalog_root')} is not set")
    handoff = read_handoff(settings.work_root / HOLDOUT)
    try:
        data = (settings.work_root / OUTPUT / MODEL_OUTPUT).read_bytes()
    except OSError as exc:
        raise BadInput("InvalidModelOutput", f"the training code left no model: {exc}") from exc
    extra = tuple(code.trusted_types)
    estimator = load_checked(data, extra)
    algorithm = AlgorithmInfo(
        name=ALGORITHM_NAME,
        params={
            "source": handoff.code_origin,
            "codeDigest": handoff.code_digest,
            "entrypoint": code.entrypoint,
            "estimator": type_name(estimator),
            "params": code.params,
        },
    )
    with catalog_errors():
        catalog = open_catalog(settings.catalog_root)
        return publish_fitted(
            snapshot,
            settings,
            catalog,
            estimator,
            algorithm,
            handoff.loaded,
            trusted_types=extra,
            code_digest=handoff.code_digest,
        )


def main(argv: Sequence[str] | None = None) -> int:
    return run_step(argv, publish)


if __name__ == "__main__":
    sys.exit(main())
