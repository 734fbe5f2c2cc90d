"""`python -m modelship.training.script.prepare`: the first container of a script-mode pod.

Modelship's own code only: it checks the Model's trusted-type request against the admin's list,
fetches the module and takes its digest, loads and splits the data, and hands the training rows
to the code container and the held-out rows to the publish container (which alone mount them).
Failures follow the trainer's contract (exit 2 and a reason for the user's input, 1 otherwise).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from modelship.api.v1alpha1 import TrainingCodeSpec, TrainingSnapshot
from modelship.catalog import OciCatalog, open_catalog
from modelship.contracts.training import TrainerSummary
from modelship.contracts.training_code import (
    CODE,
    CODE_FILE,
    HOLDOUT,
    TRAIN,
    TRUSTED_TYPE_NOT_ALLOWED,
    TrainingData,
    not_allowed_message,
    types_not_allowed,
    write_training_data,
)
from modelship.training.errors import BadInput
from modelship.training.main import catalog_errors, run_step
from modelship.training.run import load_and_split, load_snapshot
from modelship.training.script import source
from modelship.training.script.handoff import Handoff, write_handoff
from modelship.training.settings import TrainerSettings

log = logging.getLogger(__name__)


def code_spec(snapshot: TrainingSnapshot) -> TrainingCodeSpec:
    if snapshot.training.code is None:
        raise BadInput("InvalidSnapshot", "script mode needs training.code in the snapshot")
    return snapshot.training.code


def check_requested_types(code: TrainingCodeSpec, settings: TrainerSettings) -> None:
    """Fail closed: a requested type the admin did not list stops the run before anything."""
    if refused := types_not_allowed(code.trusted_types, settings.allowed_types):
        raise BadInput(TRUSTED_TYPE_NOT_ALLOWED, not_allowed_message(refused))


def fetch_code(code: TrainingCodeSpec, settings: TrainerSettings) -> source.Code:
    if code.config_map is not None:
        return source.from_configmap(code, settings.code_source_dir, settings.namespace)
    registry = None
    if settings.catalog_root:
        with catalog_errors():
            catalog = open_catalog(settings.catalog_root)
        if isinstance(catalog, OciCatalog):
            registry = catalog.registry
    return source.from_registry(code, registry)


def prepare(settings: TrainerSettings) -> TrainerSummary | None:
    """The whole step as a function (tests call it on a temporary `work_root`)."""
    snapshot = load_snapshot(settings)
    code = code_spec(snapshot)
    check_requested_types(code, settings)
    fetched = fetch_code(code, settings)
    log.info("training code %s: %s", fetched.origin, fetched.digest)
    if snapshot.dataset.typed:
        raise BadInput(
            "InvalidCode",
            "training.code receives a numeric matrix (TrainingData.X); typed features "
            "(categorical, impute, missingValues) are not handed to your code yet: list the "
            "feature names only, or use a built-in algorithm",
        )
    loaded = load_and_split(snapshot, settings)
    inputs = loaded.inputs
    root = settings.work_root
    code_dir = root / CODE
    code_dir.mkdir(parents=True, exist_ok=True)
    (code_dir / CODE_FILE).write_bytes(fetched.source)
    write_training_data(
        root / TRAIN,
        TrainingData(
            X=loaded.parts.x_train,
            y=loaded.parts.y_train,
            feature_names=tuple(feature.name for feature in inputs.features),
            target=inputs.target,
            task=snapshot.task,
            classes=tuple(inputs.classes) if inputs.classes is not None else None,
            seed=snapshot.evaluation.seed,
        ),
    )
    write_handoff(root / HOLDOUT, Handoff(loaded, fetched.digest, fetched.origin))
    return None


def main(argv: Sequence[str] | None = None) -> int:
    return run_step(argv, prepare)


if __name__ == "__main__":
    sys.exit(main())
