"""The prepare container's hand-over to the publish container: the split and its lineage.

Both run Modelship's own code; the directory is never mounted where the user's code runs, so the
held-out rows and the recorded digests cannot be read or changed by it. Arrays go as `.npz`
without pickle, the rest as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelship.catalog import AcceptanceSet, DatasetInfo, FeatureInfo, Profile
from modelship.training import evaluation
from modelship.training.inputs import Inputs
from modelship.training.run import Loaded

_ARRAYS = "split.npz"
_META = "lineage.json"


@dataclass(frozen=True)
class Handoff:
    loaded: Loaded
    code_digest: str
    code_origin: str


def write_handoff(directory: Path, handoff: Handoff) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    parts, inputs = handoff.loaded.parts, handoff.loaded.inputs
    np.savez(
        directory / _ARRAYS,
        x_train=parts.x_train,
        x_test=parts.x_test,
        y_train=parts.y_train,
        y_test=parts.y_test,
    )
    meta = {
        "dataset": handoff.loaded.dataset.model_dump(mode="json"),
        "features": [feature.model_dump(mode="json") for feature in inputs.features],
        "target": inputs.target,
        "classes": inputs.classes,
        "acceptance": inputs.acceptance.model_dump(mode="json"),
        "profile": inputs.profile.model_dump(mode="json"),
        "codeDigest": handoff.code_digest,
        "codeOrigin": handoff.code_origin,
    }
    (directory / _META).write_text(json.dumps(meta), encoding="utf-8")


def read_handoff(directory: Path) -> Handoff:
    meta = json.loads((directory / _META).read_text(encoding="utf-8"))
    with np.load(directory / _ARRAYS, allow_pickle=False) as arrays:
        parts = evaluation.Split(
            arrays["x_train"], arrays["x_test"], arrays["y_train"], arrays["y_test"]
        )
    inputs = Inputs(
        features=[FeatureInfo.model_validate(f) for f in meta["features"]],
        target=str(meta["target"]),
        classes=meta["classes"],
        split=parts,
        acceptance=AcceptanceSet.model_validate(meta["acceptance"]),
        profile=Profile.model_validate(meta["profile"]),
        plan=None,  # script mode takes numeric features only (prepare refuses typed ones)
    )
    loaded = Loaded(DatasetInfo.model_validate(meta["dataset"]), inputs)
    return Handoff(loaded, str(meta["codeDigest"]), str(meta["codeOrigin"]))
