"""Conditions as the Kubernetes API conventions describe them, computed without I/O.

`lastTransitionTime` changes only when a condition's status changes, so re-running a reconcile
that observes the same state produces an identical status and therefore no API write.
"""

from __future__ import annotations

from modelship.api.v1alpha1 import utcnow
from modelship.api.v1alpha1.base import Condition, ConditionStatus

# The condition both kinds set while `spec.suspend` is true (read back at a restart: resume.py).
SUSPENDED = "Suspended"


def condition_status(value: bool | None) -> ConditionStatus:
    if value is None:
        return ConditionStatus.UNKNOWN
    return ConditionStatus.TRUE if value else ConditionStatus.FALSE


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: bool | None,
    reason: str,
    message: str = "",
    generation: int | None = None,
    now: str | None = None,
) -> list[Condition]:
    """Return a new list with the condition `type_` set; other conditions are kept as they are."""
    value = condition_status(status)
    old = get_condition(conditions, type_)
    transition = (
        old.last_transition_time
        if old is not None and old.status == value and old.last_transition_time
        else (now or utcnow())
    )
    new = Condition(
        type=type_,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=generation,
    )
    rest = [c for c in conditions if c.type != type_]
    return sorted([*rest, new], key=lambda c: c.type)


def get_condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)
