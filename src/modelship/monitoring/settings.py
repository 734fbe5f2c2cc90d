"""Settings of one evaluation run: the one root the Job reads, from `MODELSHIP_EVALUATION_*`.

Every field comes from the `EvaluationEnv` contract the operator fills in, so the Job reads
exactly the variables the operator sets; tests pass values to the constructor instead.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship.contracts.evaluation import EvaluationEnv


class EvaluationSettings(BaseSettings, EvaluationEnv):
    """The plan to evaluate and where to leave the report."""

    model_config = SettingsConfigDict(env_prefix=EvaluationEnv.env_prefix, extra="ignore")
