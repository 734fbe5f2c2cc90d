"""The pod-environment contract base: names come from fields, values round-trip as JSON."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship.contracts.env import PodEnvironment


class _Env(PodEnvironment):
    env_prefix: ClassVar[str] = "MODELSHIP_EXAMPLE_"

    model_name: str
    version: int | None = None
    tags: list[str] | None = None


class _Settings(BaseSettings, _Env):
    model_config = SettingsConfigDict(env_prefix="MODELSHIP_EXAMPLE_", extra="ignore")


def test_env_names_follow_field_names_and_skip_unset() -> None:
    env = _Env(model_name="iris", version=3).to_env()
    assert env == [
        {"name": "MODELSHIP_EXAMPLE_MODEL_NAME", "value": "iris"},
        {"name": "MODELSHIP_EXAMPLE_VERSION", "value": "3"},
    ]


def test_settings_inheriting_the_contract_read_back_what_was_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = _Env(model_name="iris", version=7, tags=["a", "b"])
    for entry in written.to_env():
        monkeypatch.setenv(entry["name"], entry["value"])
    read = _Settings()  # type: ignore[call-arg]
    assert (read.model_name, read.version, read.tags) == ("iris", 7, ["a", "b"])


def test_unknown_field_has_no_variable() -> None:
    with pytest.raises(KeyError):
        _Env.env_name("modle_name")
