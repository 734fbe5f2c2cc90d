"""Reading a pod's report back from its termination message.

A Job's pod reports as one JSON line, the last one it writes to its termination message; but
the message may also hold earlier lines, or (after a crash) only the tail of the log that
Kubernetes falls back to. Every reader takes the newest line that is its report, and each
decides for itself what a message without one means.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

Report = TypeVar("Report", bound=BaseModel)


def last_report(model: type[Report], text: str | None) -> Report | None:
    """The newest line of `text` that is `model`'s JSON; None when no line is."""
    for line in reversed((text or "").strip().splitlines()):
        try:
            return model.model_validate_json(line)
        except ValidationError:
            continue
    return None
