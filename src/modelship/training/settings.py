"""The trainer's settings: one pydantic-settings root, read from `MODELSHIP_TRAINING_*`.

The variables the operator sets are the fields of `TrainerEnv` (the pod-environment contract this
root inherits); the rest are knobs for running the trainer by hand. Tests and the command line pass
values to the constructor instead. Nothing is required at construction time so that even a badly
configured pod can still report *why* through its termination message.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship.contracts.training import TERMINATION_MESSAGE_PATH, TrainerEnv
from modelship.contracts.training_code import CONFIGMAP_DIR, WORK_ROOT

DEFAULT_TERMINATION_MESSAGE_PATH = Path(TERMINATION_MESSAGE_PATH)


class TrainerSettings(BaseSettings, TrainerEnv):
    model_config = SettingsConfigDict(
        env_prefix=TrainerEnv.env_prefix, extra="ignore", populate_by_name=True
    )

    # The contract's names come first; the short MODEL / TRAINING_JOB, which older docs showed,
    # are still accepted.
    model_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            TrainerEnv.env_name("model_name"), f"{TrainerEnv.env_prefix}MODEL"
        ),
        description="Name of the Model.",
    )
    training_job_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            TrainerEnv.env_name("training_job_name"), f"{TrainerEnv.env_prefix}TRAINING_JOB"
        ),
        description="TrainingJob this run belongs to (recorded in the metadata).",
    )
    snapshot_file: Path | None = Field(
        default=None, description="A file holding the snapshot JSON (used when `snapshot` is not)."
    )
    http_max_bytes: int = Field(
        default=100 * 1024 * 1024, gt=0, description="Largest http(s) dataset accepted."
    )
    http_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Wall-clock limit for downloading an http(s) dataset."
    )
    acceptance_rows: int = Field(
        default=500, gt=0, description="Held-out rows kept as the version's acceptance set."
    )
    profile_bins: int = Field(default=10, ge=2, description="Quantile bins per feature profile.")
    work_root: Path = Field(
        default=Path(WORK_ROOT),
        description="Script mode: where the pod's hand-over directories are mounted.",
    )
    code_source_dir: Path = Field(
        default=Path(CONFIGMAP_DIR),
        description="Script mode: where the ConfigMap holding the code is mounted (prepare).",
    )
