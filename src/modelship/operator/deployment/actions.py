"""What one reconcile decided to do, as data, and the draft status it builds while deciding.

`decide` never calls the API: it describes each write as an action, and `apply` performs them in
order. `Draft` keeps the status being built, the actions and the Events together, so the steps of
a decision (test stage, production) can share them without sharing I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelship.api.v1alpha1 import DeploymentStatus, HistoryEntry
from modelship.operator.deployment.rollout import SPEC_HASH, Applied, with_spec_hash
from modelship.operator.kube.actions import CreateJob, PostEvent, RequeueAfter
from modelship.operator.kube.conditions import set_condition
from modelship.operator.kube.resources import Resource

Obj = dict[str, Any]
HISTORY_LIMIT = 20


@dataclass(frozen=True)
class ApplyChild:
    """Create the child (`exists` False) or patch its labels, annotations and spec."""

    resource: Resource
    body: Obj
    exists: bool

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])


@dataclass(frozen=True)
class DeleteChild:
    resource: Resource
    name: str


Action = ApplyChild | DeleteChild | CreateJob | PostEvent


@dataclass(frozen=True)
class Decision:
    """The new status, the writes to make (in order), and when to look again (None: no need)."""

    status: DeploymentStatus
    actions: list[Action]
    requeue_after: RequeueAfter


@dataclass
class Draft:
    """The status being decided, starting from the observed one; `now` stamps what it records."""

    status: DeploymentStatus
    generation: int
    now: str
    actions: list[Action] = field(default_factory=list)
    unsettled: bool = False
    """Something decided in this pass is only settled by the next one (which no event may
    start): look again soon, whatever the phase."""

    @classmethod
    def start(cls, old: DeploymentStatus, generation: int, now: str) -> Draft:
        return cls(old.model_copy(deep=True), generation, now)

    def condition(self, type_: str, value: bool | None, reason: str, message: str = "") -> None:
        self.status.conditions = set_condition(
            self.status.conditions, type_, value, reason, message, self.generation, self.now
        )

    def record(self, event: str, version: int | None, digest: str | None, message: str) -> None:
        entry = HistoryEntry(
            event=event, version=version, digest=digest or None, at=self.now, message=message
        )
        self.status.history = [entry, *self.status.history][:HISTORY_LIMIT]

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        post = PostEvent.warning if warning else PostEvent.normal
        self.actions.append(post(reason, message))

    def apply(self, resource: Resource, body: Obj, current: Applied | None) -> bool:
        """Ask for `body` unless the child already has this spec; True when a write is asked.

        A child written now has not rolled out yet: callers must not read its observed state as
        the new spec's.
        """
        desired = with_spec_hash(body)
        if (
            current is not None
            and current.spec_hash == desired["metadata"]["annotations"][SPEC_HASH]
        ):
            return False
        self.actions.append(ApplyChild(resource, desired, exists=current is not None))
        return True

    def delete(self, resource: Resource, name: str) -> None:
        self.actions.append(DeleteChild(resource, name))

    def finish(self, requeue_after: RequeueAfter) -> Decision:
        self.status.observed_generation = self.generation
        return Decision(self.status, self.actions, requeue_after)
