"""Conditions as the Kubernetes API conventions describe them, computed without I/O.

`lastTransitionTime` changes only when a condition's status changes, so re-running a reconcile
that observes the same state produces an identical status and therefore no API write.
"""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import utcnow


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: bool | None,
    reason: str,
    message: str = "",
    generation: int | None = None,
    now: str | None = None,
) -> list[dict[str, Any]]:
    """Return a new list with the condition `type_` set; other conditions are kept as they are."""
    value = "Unknown" if status is None else ("True" if status else "False")
    old = next((c for c in conditions if c.get("type") == type_), None)
    transition = (
        old["lastTransitionTime"]
        if old is not None and old.get("status") == value and old.get("lastTransitionTime")
        else (now or utcnow())
    )
    new: dict[str, Any] = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if generation is not None:
        new["observedGeneration"] = generation
    rest = [c for c in conditions if c.get("type") != type_]
    return sorted([*rest, new], key=lambda c: str(c.get("type")))


def get_condition(conditions: list[dict[str, Any]], type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def is_true(conditions: list[dict[str, Any]], type_: str) -> bool:
    condition = get_condition(conditions, type_)
    return condition is not None and condition.get("status") == "True"
