"""The batch pod's settings: the operator's `BatchEnv`, plus the Indexed Job's index."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship.contracts.batch import BatchEnv


class BatchSettings(BaseSettings, BatchEnv):
    model_config = SettingsConfigDict(
        env_prefix=BatchEnv.env_prefix, extra="ignore", populate_by_name=True
    )

    shard_index: int | None = Field(
        default=None,
        ge=0,
        # Kubernetes sets this in every pod of an Indexed Job; it is not ours to prefix.
        validation_alias=AliasChoices("shard_index", "JOB_COMPLETION_INDEX"),
        description="Which shard this pod scores (step shard).",
    )
    http_max_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    http_timeout_seconds: float = Field(default=600.0, gt=0)
    chunk_rows: int = Field(
        default=1000, ge=1, description="Rows decoded and predicted per call (bounded memory)."
    )
