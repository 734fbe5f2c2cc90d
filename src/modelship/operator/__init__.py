"""The Modelship operator: `kopf run -m modelship.operator` registers every handler below.

The packages (see README.md here): `model/`, `trainingjob/`, `deployment/`, `batch/` (one per
controller), `kube/` (the shared plumbing), `ha/` (leadership), `admission/`, `metrics/`. The
modules at this level are only the entry points: the handler registrations, settings, startup.
"""

# Kopf runs startup handlers one after another, in the order they were registered, which is the
# order of these imports (kept by hand): `admission` starts the webhook server first, `election`
# then waits for the Lease, the leader's `keeper` then keeps the webhook's certificates, and
# only then does `startup` configure the process state.
# isort: off
from modelship.operator import admission, batch_handlers, deployment_handlers
from modelship.operator.ha import election
from modelship.operator.admission import keeper
from modelship.operator import handlers, startup, memory

# isort: on

__all__ = [
    "admission",
    "batch_handlers",
    "deployment_handlers",
    "election",
    "handlers",
    "keeper",
    "memory",
    "startup",
]
