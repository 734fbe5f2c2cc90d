"""The Modelship operator: `kopf run -m modelship.operator` registers every handler below."""

from modelship.operator import handlers, startup

__all__ = ["handlers", "startup"]
