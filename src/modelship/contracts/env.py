"""The environment of a pod the operator starts, as a typed model both sides share.

The operator builds the container's `env` from an instance of a `PodEnvironment` subclass; the
process in the pod reads the same fields through a pydantic-settings root that inherits from that
subclass. Variable names are derived from the field names and the class's prefix in one place, so
renaming a field renames the variable on both sides at once.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class PodEnvironment(BaseModel):
    """Base of every pod-environment contract; subclasses set `env_prefix` and their fields."""

    model_config = ConfigDict(extra="forbid")

    env_prefix: ClassVar[str] = ""

    @classmethod
    def env_name(cls, field: str) -> str:
        """The variable that carries `field` (the settings class reads exactly this name)."""
        if field not in cls.model_fields:
            raise KeyError(f"{cls.__name__} has no field {field!r}")
        return f"{cls.env_prefix}{field.upper()}"

    def to_env(self) -> list[dict[str, str]]:
        """Container `env` entries for every field that is set, in field order.

        Strings are passed as they are; everything else as JSON, which pydantic-settings parses
        back into the field's type.
        """
        entries: list[dict[str, str]] = []
        for field in type(self).model_fields:
            value: Any = getattr(self, field)
            if value is None:
                continue
            if isinstance(value, BaseModel):
                value = value.model_dump(mode="json")
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            entries.append({"name": self.env_name(field), "value": text})
        return entries
