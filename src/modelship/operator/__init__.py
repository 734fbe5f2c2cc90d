"""The Modelship operator: `kopf run -m modelship.operator` registers every handler below."""

# `admission` comes first: its startup handler starts the webhook server before election's
# waits for the Lease (Kopf runs startup handlers one after another, in registration order).
from modelship.operator import admission, deployment_handlers, election, handlers, startup

__all__ = ["admission", "deployment_handlers", "election", "handlers", "startup"]
