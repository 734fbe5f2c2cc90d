"""Script mode's contracts: what the user's `train(data, params)` receives, and how the three
containers of a script-mode training pod hand work to each other.

The pod (built by `operator.trainingjob.builders`) runs, in order:

1. `prepare` (init, Modelship's image): reads the snapshot, fetches the code (ConfigMap or OCI
   artifact) and records its digest, loads the dataset, splits it; writes the training rows to
   `TRAIN_DIR`, the code to `CODE_DIR`, and the held-out rows to `HOLDOUT_DIR`.
2. `code` (init, Modelship's image or the team's): mounts only `TRAIN_DIR`, `CODE_DIR` (read-only)
   and `OUTPUT_DIR`; no catalog, no registry Secret, no API token, no held-out rows. Its runner
   calls the user's function in a child process and writes `model.skops` to `OUTPUT_DIR`.
3. `trainer` (Modelship's image; the only container holding the catalog's write access and the
   registry Secret): checks the artifact's types before loading it, computes every metric on the
   held-out rows, and publishes, reporting a `TrainerSummary` like the built-in trainer.

`TrainingData` is the one definition of `data`: the runner builds it from `TRAIN_DIR` with
`read_training_data`, which `prepare` wrote with `write_training_data`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from modelship.contracts.env import PodEnvironment
from modelship.contracts.training import TERMINATION_MESSAGE_PATH

WORK_ROOT = "/var/run/modelship/work"
TRAIN = "train"
"""prepare -> code: the training rows only."""
HOLDOUT = "holdout"
"""prepare -> trainer: the split and the dataset's lineage. Never mounted in the code container."""
CODE = "code"
"""prepare -> code: the module exactly as its digest was taken."""
OUTPUT = "output"
"""code -> trainer: the estimator as skops bytes (and the runner's report)."""
TRAIN_DIR = f"{WORK_ROOT}/{TRAIN}"
HOLDOUT_DIR = f"{WORK_ROOT}/{HOLDOUT}"
CODE_DIR = f"{WORK_ROOT}/{CODE}"
OUTPUT_DIR = f"{WORK_ROOT}/{OUTPUT}"
CONFIGMAP_DIR = "/var/run/modelship/code-source"
"""Where the ConfigMap holding the code is mounted, in the prepare container only."""

CODE_FILE = "user_training_code.py"
MODEL_OUTPUT = "model.skops"
RESULT_FILE = "result.json"
_ARRAYS = "data.npz"
_META = "data.json"

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class TrainingData:
    """What `train(data, params)` receives: the training rows, never the held-out ones.

    - `X`: float64 array of shape (n_rows, n_features), columns in `feature_names` order (the
      order serving sends them in).
    - `y`: shape (n_rows,); class labels (int or str) for classification, float64 for regression.
    - `feature_names`: the column names of `X`.
    - `target`: the name of the predicted column.
    - `task`: "classification" or "regression".
    - `classes`: the sorted class labels of the whole dataset (classification), else None.
    - `seed`: the Model's evaluation seed, for code that wants to be reproducible.
    """

    X: npt.NDArray[np.float64]
    y: npt.NDArray[Any]
    feature_names: tuple[str, ...]
    target: str
    task: Task
    classes: tuple[int | float | str, ...] | None
    seed: int


def write_training_data(directory: Path, data: TrainingData) -> None:
    """Store `data` as plain arrays and JSON (no pickle: the reader is a different container)."""
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / _ARRAYS, X=data.X, y=data.y)
    meta = {
        "featureNames": list(data.feature_names),
        "target": data.target,
        "task": data.task,
        "classes": list(data.classes) if data.classes is not None else None,
        "seed": data.seed,
    }
    (directory / _META).write_text(json.dumps(meta), encoding="utf-8")


def read_training_data(directory: Path) -> TrainingData:
    """The `TrainingData` `write_training_data` stored; object arrays are refused (no pickle)."""
    meta = json.loads((directory / _META).read_text(encoding="utf-8"))
    with np.load(directory / _ARRAYS, allow_pickle=False) as arrays:
        x, y = arrays["X"], arrays["y"]
    classes = meta["classes"]
    return TrainingData(
        X=x,
        y=y,
        feature_names=tuple(meta["featureNames"]),
        target=str(meta["target"]),
        task=meta["task"],
        classes=tuple(classes) if classes is not None else None,
        seed=int(meta["seed"]),
    )


class CodeRunnerEnv(PodEnvironment):
    """The code container's environment: where things are and how to call the function.

    Deliberately without the snapshot, the catalog or anything else the code does not need.
    """

    env_prefix: ClassVar[str] = "MODELSHIP_CODE_"

    entrypoint: str = Field(default="train", description="Function to call in the module.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="The `params` argument (JSON on the wire)."
    )
    timeout_seconds: float = Field(default=600, gt=0, description="Limit of the function.")
    train_dir: str = Field(default=TRAIN_DIR, description="Where the training rows are.")
    code_file: str = Field(default=f"{CODE_DIR}/{CODE_FILE}", description="The module.")
    output_dir: str = Field(default=OUTPUT_DIR, description="Where model.skops goes.")
    termination_message_path: str = Field(
        default=TERMINATION_MESSAGE_PATH, description="Where the one-line JSON failure goes."
    )


TRUSTED_TYPE_NOT_ALLOWED = "TrustedTypeNotAllowed"


def types_not_allowed(requested: list[str], allowed: list[str] | None) -> list[str]:
    """The requested extra artifact types that are not on the admin's allowlist (fail closed:
    no list means nothing may be requested). The operator checks before starting a pod and the
    trainer again before trusting any type, with this one rule."""
    permitted = set(allowed or ())
    return sorted({name for name in requested if name not in permitted})


def not_allowed_message(refused: list[str]) -> str:
    return (
        f"training.code.trustedTypes requests {', '.join(refused)}, not on the platform's "
        "allowlist (the operator's allowed_artifact_types); ask the cluster admin or remove it"
    )
