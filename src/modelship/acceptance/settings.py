"""Settings of one acceptance run: the one root the Job reads, from `MODELSHIP_ACCEPTANCE_*`.

Every field comes from the `AcceptanceEnv` contract the operator fills in, so the Job reads
exactly the variables the operator sets; tests pass values to the constructor instead.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship.contracts.acceptance import AcceptanceEnv


class AcceptanceSettings(BaseSettings, AcceptanceEnv):
    """The plan to check and where to leave the report."""

    model_config = SettingsConfigDict(env_prefix=AcceptanceEnv.env_prefix, extra="ignore")
