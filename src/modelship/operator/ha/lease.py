"""What a candidate should do with the leader Lease, decided without I/O.

The rules are those of client-go's leader election: a Lease held by someone else counts as
expired only when its holder has not renewed it for a whole lease duration *as measured on our
own clock* since we last saw it change. Comparing the holder's `renewTime` with our wall clock
would let clock skew between nodes hand the Lease to two candidates at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

LEASES_API_VERSION = "coordination.k8s.io/v1"


class LeaseAction(StrEnum):
    CREATE = "create"  # no Lease exists: create it, holding it
    RENEW = "renew"  # we hold it: move renewTime
    ACQUIRE = "acquire"  # released or expired: take it over (optimistically, by resourceVersion)
    WAIT = "wait"  # someone else holds it and is alive: stand by


@dataclass(frozen=True)
class LeaseRecord:
    """The parts of a Lease that leader election reads."""

    holder: str
    renew_time: str
    duration_seconds: int
    transitions: int
    resource_version: str

    @classmethod
    def from_object(cls, lease: dict[str, Any]) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            renew_time=str(spec.get("renewTime") or ""),
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=str(lease["metadata"].get("resourceVersion") or ""),
        )


@dataclass
class Sighting:
    """When (on our monotonic clock) the Lease's holder and renewTime were last seen to change."""

    holder: str = ""
    renew_time: str = ""
    changed_at: float = 0.0

    def update(self, record: LeaseRecord, now: float) -> None:
        if (record.holder, record.renew_time) != (self.holder, self.renew_time):
            self.holder, self.renew_time, self.changed_at = record.holder, record.renew_time, now


def decide(
    record: LeaseRecord | None,
    identity: str,
    sighting: Sighting,
    now: float,
    default_duration: float,
) -> LeaseAction:
    """The next step for `identity`, given the Lease as read now (None: there is none)."""
    if record is None:
        return LeaseAction.CREATE
    if record.holder == identity:
        return LeaseAction.RENEW
    if not record.holder:
        return LeaseAction.ACQUIRE
    duration = record.duration_seconds or default_duration
    if now - sighting.changed_at >= duration:
        return LeaseAction.ACQUIRE
    return LeaseAction.WAIT


def micro_time(moment: datetime | None = None) -> str:
    """A `MicroTime` as the API server writes it (RFC 3339 with microseconds, UTC)."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_body(name: str, identity: str, duration_seconds: int, transitions: int) -> dict[str, Any]:
    """A new Lease held by `identity`."""
    now = micro_time()
    return {
        "apiVersion": LEASES_API_VERSION,
        "kind": "Lease",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "modelship"}},
        "spec": {
            "holderIdentity": identity,
            "leaseDurationSeconds": duration_seconds,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": transitions,
        },
    }


def takeover_patch(record: LeaseRecord, identity: str, duration_seconds: int) -> dict[str, Any]:
    """A merge patch taking the Lease over; the resourceVersion makes it fail if anyone moved it."""
    now = micro_time()
    return {
        "metadata": {"resourceVersion": record.resource_version},
        "spec": {
            "holderIdentity": identity,
            "leaseDurationSeconds": duration_seconds,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": record.transitions + 1,
        },
    }


def renew_patch(record: LeaseRecord) -> dict[str, Any]:
    return {
        "metadata": {"resourceVersion": record.resource_version},
        "spec": {"renewTime": micro_time()},
    }


def release_patch(record: LeaseRecord) -> dict[str, Any]:
    """Give the Lease up on a clean shutdown, so a standby takes over without waiting it out."""
    return {
        "metadata": {"resourceVersion": record.resource_version},
        "spec": {"holderIdentity": None, "renewTime": micro_time(), "leaseDurationSeconds": 1},
    }
