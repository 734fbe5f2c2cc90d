"""The Modelship operator: `kopf run -m modelship.operator` registers every handler below."""

from modelship.operator import election, handlers, startup

__all__ = ["election", "handlers", "startup"]
