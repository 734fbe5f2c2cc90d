"""Which objects a restarted operator need not reconcile when Kopf resumes them.

A restart resumes every object, and a reconcile reads the object again before it decides (and
a Model lists its TrainingJobs): at 10,000 objects that is most of a restart's requests. A
suspended object whose status already records the suspension for its current generation would
decide the same again: a suspended decision reads nothing that could have changed unseen (a
child that moved meanwhile brings its own event, which reconciles its owner), and a new spec
arrives as an update, not a resume. So the body Kopf has just listed is enough to skip it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelship.operator.kube.conditions import SUSPENDED


def suspended_at_rest(body: Mapping[str, Any]) -> bool:
    """Suspended, and its status says so for the generation it has now (pure)."""
    spec = body.get("spec") or {}
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    if not spec.get("suspend") or meta.get("deletionTimestamp"):
        return False
    if status.get("observedGeneration") != meta.get("generation"):
        return False
    return any(
        condition.get("type") == SUSPENDED and condition.get("status") == "True"
        for condition in status.get("conditions") or []
    )
