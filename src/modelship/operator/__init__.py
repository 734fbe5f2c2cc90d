"""The Modelship operator: `kopf run -m modelship.operator` registers every handler below."""

from modelship.operator import deployment_handlers, election, handlers, startup

__all__ = ["deployment_handlers", "election", "handlers", "startup"]
