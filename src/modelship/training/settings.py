"""The trainer's settings: one pydantic-settings root, read from `MODELSHIP_TRAINING_*`.

The TrainingJob controller sets these on the training container; tests and the command line pass
them to the constructor instead. Nothing is required at construction time so that even a badly
configured pod can still report *why* through its termination message.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TERMINATION_MESSAGE_PATH = Path("/dev/termination-log")


class TrainerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MODELSHIP_TRAINING_", extra="ignore", populate_by_name=True
    )

    snapshot: str | None = Field(
        default=None, description="The TrainingJob's training snapshot as JSON."
    )
    snapshot_file: Path | None = Field(
        default=None, description="A file holding the snapshot JSON (used when `snapshot` is not)."
    )
    catalog_root: str | None = Field(
        default=None, description="Catalog to publish to: a path or file:// URI."
    )
    namespace: str = Field(default="default", description="Namespace of the Model.")
    # The pod spec says MODELSHIP_TRAINING_MODEL / _TRAINING_JOB; the longer names are accepted too.
    model_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MODELSHIP_TRAINING_MODEL", "MODELSHIP_TRAINING_MODEL_NAME"),
        description="Name of the Model.",
    )
    training_job_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "MODELSHIP_TRAINING_TRAINING_JOB", "MODELSHIP_TRAINING_TRAINING_JOB_NAME"
        ),
        description="TrainingJob this run belongs to (recorded in the metadata).",
    )
    termination_message_path: Path = Field(
        default=DEFAULT_TERMINATION_MESSAGE_PATH,
        description="Where the one-line JSON result goes (the pod's terminationMessagePath).",
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
