"""The decision vocabulary every controller shares, declared once with one meaning.

A controller's `decide` returns these as data (no I/O); its `apply` performs them through
`kube.perform`. Kind-specific actions (the Model's CreateTrainingJob, the Deployment's
ApplyChild) live with their controller; these are the ones all of them use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Obj = dict[str, Any]

RequeueAfter = float | None
"""Seconds until an object wants to be looked at again without any event: 0 at once, None never
(only events matter now)."""


@dataclass(frozen=True)
class PostEvent:
    """A Kubernetes Event on the reconciled object, posted after its status is written (a pass
    whose writes fail posts nothing; the next one decides again)."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str

    @classmethod
    def normal(cls, reason: str, message: str) -> PostEvent:
        return cls("Normal", reason, message)

    @classmethod
    def warning(cls, reason: str, message: str) -> PostEvent:
        return cls("Warning", reason, message)


@dataclass(frozen=True)
class CreateJob:
    """Create a batch/v1 Job once: found instead when it exists, never patched (a Job's pod
    template is immutable). `announce` is posted only by the pass that created it."""

    body: Obj
    announce: PostEvent | None = None


def now() -> datetime:
    """The one clock decisions are stamped with: aware, UTC. Read once per reconcile and passed
    down, so that what `observe` judged due, `decide` sees due too."""
    return datetime.now(UTC)
