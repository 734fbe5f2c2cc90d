"""One active operator at a time: hold a `coordination.k8s.io/v1` Lease or stand by.

Two operators acting on the same objects fight (each rewrites what the other wrote), so an
instance starts its controllers only once it holds the Lease, renews it while it acts, and stops
acting at once — by ending the process — when it cannot renew it before the renew deadline. A
standby only reads the Lease; it writes nothing until the holder has been silent for a whole lease
duration. Ending the process on a lost Lease is what controller-runtime does too: a restarted
process comes back as a clean standby, with no handler left half-way in a thread.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelship.operator.ha.lease import (
    LeaseAction,
    LeaseRecord,
    Sighting,
    decide,
    lease_body,
    release_patch,
    renew_patch,
    takeover_patch,
)
from modelship.operator.kube.client import Kube, KubeError
from modelship.operator.kube.resources import LEASES, NAMESPACES

log = logging.getLogger("modelship.leadership")


def unique_identity(name: str = "") -> str:
    """`name` (the pod's, in a cluster) or the host name, made unique per process start."""
    return f"{name or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Timing:
    """client-go's defaults (15 s lease, 10 s renew deadline, 2 s between tries), except that
    a leader whose renewals succeed renews every `renew_interval` (half the renew deadline when
    not given), not every retry period: an idle operator's renewals were most of its API
    requests. A failed renewal is retried every retry period until the deadline, as before."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    renew_interval: float | None = None

    @property
    def renew_every(self) -> float:
        return self.renew_deadline / 2 if self.renew_interval is None else self.renew_interval


class LeaderElector:
    """Acquire, keep and release one Lease for one identity."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        timing: Timing,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube, self.namespace, self.name, self.identity = kube, namespace, name, identity
        self.timing = timing
        self._clock = clock
        self._sighting = Sighting()
        self._record: LeaseRecord | None = None
        self._stop = threading.Event()
        self._waiting_on = ""

    @property
    def leading(self) -> bool:
        """Whether we hold the Lease as far as we last saw (read by the metrics endpoint)."""
        record = self._record
        return record is not None and record.holder == self.identity and not self._stop.is_set()

    @property
    def where(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    def try_once(self) -> bool:
        """Read the Lease and act on it once; True when we hold it afterwards."""
        if self._record is not None and self._record.holder == self.identity:
            # Leading: renew from what we last wrote. The resourceVersion makes the patch fail
            # if anyone else wrote since, and only then is the Lease read again: one request
            # per retry period while all is well.
            try:
                written = self.kube.patch(
                    LEASES, self.namespace, self.name, renew_patch(self._record)
                )
            except KubeError as exc:
                if exc.status not in (404, 409):
                    raise
                self._record = None
            else:
                self._record = LeaseRecord.from_object(written)
                self._sighting.update(self._record, self._clock())
                return True
        current = self.kube.get(LEASES, self.namespace, self.name)
        record = LeaseRecord.from_object(current) if current is not None else None
        now = self._clock()
        if record is not None:
            self._sighting.update(record, now)
        action = decide(record, self.identity, self._sighting, now, self.timing.lease_duration)
        duration = round(self.timing.lease_duration)
        if action is LeaseAction.WAIT:
            assert record is not None
            if record.holder != self._waiting_on:
                self._waiting_on = record.holder
                log.info("standing by: %s is held by %s", self.where, record.holder)
            return False
        try:
            written = _write(self, action, record, duration)
        except KubeError as exc:
            if exc.status == 409:  # another candidate moved first; read again next time
                return False
            raise
        self._record = LeaseRecord.from_object(written)
        self._sighting.update(self._record, self._clock())
        if action is not LeaseAction.RENEW:
            log.info("leading: %s acquired by %s", self.where, self.identity)
        return True

    def acquire(self) -> bool:
        """Block until we hold the Lease (True) or `stop()` was called (False)."""
        log.info("waiting for %s as %s", self.where, self.identity)
        while not self._stop.is_set():
            try:
                if self.try_once():
                    return True
            except KubeError as exc:
                if exc.status == 404 and self._make_namespace():
                    continue
                hint = (
                    f" (does namespace {self.namespace!r} exist? create it, or set "
                    "MODELSHIP_OPERATOR_LEASE_NAMESPACE)"
                    if exc.status == 404
                    else ""
                )
                log.warning("cannot read or write %s: %s%s", self.where, exc, hint)
            self._stop.wait(self.timing.retry_period)
        return False

    def _make_namespace(self) -> bool:
        """Create the Lease's missing namespace, when allowed: `make run` with a person's
        credentials against a cluster where nothing was deployed. The operator's own account
        may not (its namespace exists anyway), and then the caller says what to do."""
        try:
            self.kube.create(NAMESPACES, None, {"metadata": {"name": self.namespace}})
        except KubeError as exc:
            if exc.status != 409:
                return False
        log.info("created namespace %s for the leader Lease", self.namespace)
        return True

    def keep(self, on_lost: Callable[[str], None]) -> threading.Thread:
        """Renew in a background thread; call `on_lost(why)` once the Lease cannot be kept."""
        thread = threading.Thread(
            target=self._renew_loop, args=(on_lost,), name="lease-renewal", daemon=True
        )
        thread.start()
        return thread

    def _renew_loop(self, on_lost: Callable[[str], None]) -> None:
        renewed_at = self._clock()
        pause = self.timing.renew_every
        while not self._stop.wait(pause):
            pause = self.timing.retry_period  # until a renewal succeeds again
            try:
                if self.try_once():
                    renewed_at, pause = self._clock(), self.timing.renew_every
                    continue
                holder = self._record.holder if self._record else ""
                if self._sighting.holder not in ("", self.identity):
                    on_lost(f"{self.where} was taken over by {self._sighting.holder}")
                    return
                why = f"renewal of {self.where} was refused (held by {holder or 'nobody'})"
            except KubeError as exc:
                why = f"renewal of {self.where} failed: {exc}"
            if self._clock() - renewed_at >= self.timing.renew_deadline:
                on_lost(f"{why}; not renewed for {self.timing.renew_deadline:.0f}s")
                return
            log.warning("%s; retrying", why)

    def stop(self) -> None:
        self._stop.set()

    def release(self) -> None:
        """Hand the Lease back (clean shutdown) so a standby need not wait it out."""
        self.stop()
        try:
            current = self.kube.get(LEASES, self.namespace, self.name)
            if current is None:
                return
            record = LeaseRecord.from_object(current)
            if record.holder != self.identity:
                return
            self.kube.patch(LEASES, self.namespace, self.name, release_patch(record))
            log.info("released %s", self.where)
        except KubeError as exc:  # it expires by itself; a standby then waits a lease duration
            log.warning("could not release %s: %s", self.where, exc)


def _write(
    elector: LeaderElector, action: LeaseAction, record: LeaseRecord | None, duration: int
) -> dict[str, Any]:
    """Create, renew or take over the Lease as `action` says; a 409 means someone moved first."""
    kube, namespace, name = elector.kube, elector.namespace, elector.name
    if action is LeaseAction.CREATE:
        return kube.create(LEASES, namespace, lease_body(name, elector.identity, duration, 0))
    assert record is not None
    if action is LeaseAction.RENEW:
        return kube.patch(LEASES, namespace, name, renew_patch(record))
    return kube.patch(LEASES, namespace, name, takeover_patch(record, elector.identity, duration))
