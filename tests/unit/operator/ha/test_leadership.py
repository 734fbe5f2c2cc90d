"""Leader election: who holds the Lease, when a standby may take it, and when a leader must stop."""

from __future__ import annotations

import copy
import itertools
import threading
import time
from typing import Any

import pytest
from pydantic import ValidationError

from modelship.operator.ha.elector import LeaderElector, Timing
from modelship.operator.ha.lease import LeaseAction, LeaseRecord, Sighting, decide
from modelship.operator.kube.client import KubeError
from modelship.operator.kube.resources import Resource
from modelship.operator.settings import LeadershipSettings

ME, OTHER = "op-a_1", "op-b_2"


def record(holder: str, renew: str = "t1", duration: int = 15) -> LeaseRecord:
    return LeaseRecord(holder, renew, duration, 0, "1")


@pytest.mark.parametrize(
    ("lease", "seen_change_at", "now", "expected"),
    [
        (None, 0.0, 100.0, LeaseAction.CREATE),
        (record(ME), 0.0, 100.0, LeaseAction.RENEW),
        (record(""), 99.0, 100.0, LeaseAction.ACQUIRE),  # released on a clean shutdown
        (record(OTHER), 90.0, 100.0, LeaseAction.WAIT),  # renewed 10 s ago: alive
        (record(OTHER), 85.0, 100.0, LeaseAction.ACQUIRE),  # silent for a whole duration
        (record(OTHER, duration=30), 85.0, 100.0, LeaseAction.WAIT),  # the Lease's own duration
    ],
)
def test_decide(
    lease: LeaseRecord | None, seen_change_at: float, now: float, expected: LeaseAction
) -> None:
    sighting = Sighting(holder=OTHER, renew_time="t1", changed_at=seen_change_at)
    assert decide(lease, ME, sighting, now, default_duration=15) is expected


def test_expiry_is_measured_on_our_clock_from_the_last_change_we_saw() -> None:
    sighting = Sighting()
    sighting.update(record(OTHER, "t1"), now=10.0)
    sighting.update(record(OTHER, "t1"), now=20.0)  # same renewTime: no change seen
    assert sighting.changed_at == 10.0
    sighting.update(record(OTHER, "t2"), now=24.0)
    assert decide(record(OTHER, "t2"), ME, sighting, 38.0, 15) is LeaseAction.WAIT
    assert decide(record(OTHER, "t2"), ME, sighting, 39.0, 15) is LeaseAction.ACQUIRE


class LeaseStore:
    """One Lease with the API server's optimistic concurrency (resourceVersion preconditions)."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.writes: list[str] = []
        self.reads = 0
        self.down = False
        self.namespace: bool | None = True  # exists; False: missing; None: missing, forbidden

    def get(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        if self.down:
            raise KubeError(0, "connection refused")
        return copy.deepcopy(self.lease)

    def create(self, res: Resource, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if res.plural == "namespaces":
            if self.namespace is None:
                raise KubeError(403, "cannot create namespaces")
            self.namespace = True
            return body
        if not self.namespace:
            raise KubeError(404, "namespaces not found")
        if self.lease is not None:
            raise KubeError(409, "already exists")
        self.version += 1
        self.lease = {**copy.deepcopy(body)}
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        self.writes.append(body["spec"]["holderIdentity"])
        return copy.deepcopy(self.lease)

    def patch(
        self, res: Resource, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        if self.down:
            raise KubeError(0, "connection refused")
        assert self.lease is not None
        if patch["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
            raise KubeError(409, "the object has been modified")
        for key, value in patch["spec"].items():
            if value is None:
                self.lease["spec"].pop(key, None)
            else:
                self.lease["spec"][key] = value
        self.version += 1
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        self.writes.append(str(self.lease["spec"].get("holderIdentity", "")))
        return copy.deepcopy(self.lease)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(store: LeaseStore, identity: str, clock: Clock) -> LeaderElector:
    return LeaderElector(store, "modelship-system", "modelship-operator", identity, Timing(), clock)  # type: ignore[arg-type]


def test_one_leader_and_a_standby_that_writes_nothing_until_the_lease_expires() -> None:
    store, clock = LeaseStore(), Clock()
    leader, standby = elector(store, ME, clock), elector(store, OTHER, clock)
    assert leader.try_once()
    writes = len(store.writes)
    for _ in range(7):  # 14 s of a live leader renewing every 2 s
        clock.now += 2
        assert leader.try_once()
        assert not standby.try_once()
    assert store.writes[writes:] == [ME] * 7  # the standby made no write at all
    for _ in range(7):  # the leader dies: 14 s of silence is not yet a whole lease duration
        clock.now += 2
        assert not standby.try_once()
    clock.now += 2
    assert standby.try_once()
    assert store.lease is not None
    assert store.lease["spec"]["holderIdentity"] == OTHER
    assert store.lease["spec"]["leaseTransitions"] == 1


def test_a_leader_that_was_taken_over_stops_at_once() -> None:
    store, clock = LeaseStore(), Clock()
    leader, other = elector(store, ME, clock), elector(store, OTHER, clock)
    assert leader.try_once()
    assert not other.try_once()  # first sight of the Lease: the duration counts from here
    clock.now += 20  # the leader stalled longer than the lease duration
    assert other.try_once()
    lost: list[str] = []
    leader.timing = Timing(retry_period=0.01, renew_interval=0.01)
    leader.keep(lost.append).join(timeout=5)
    assert lost and OTHER in lost[0]


def test_a_leader_that_cannot_renew_before_the_deadline_stops() -> None:
    store, clock = LeaseStore(), Clock()
    leader = elector(store, ME, clock)
    assert leader.try_once()
    store.down = True
    leader.timing = Timing(retry_period=0.01, renew_interval=0.01)
    lost: list[str] = []

    def advance_and_record(why: str) -> None:
        lost.append(why)

    thread = leader.keep(advance_and_record)
    while thread.is_alive() and not lost:
        clock.now += 1  # each failed try moves our clock on; the deadline is 10 s
        thread.join(timeout=0.02)
    thread.join(timeout=5)
    assert lost and "not renewed for 10s" in lost[0]


def test_release_lets_a_standby_take_over_without_waiting() -> None:
    store, clock = LeaseStore(), Clock()
    leader, standby = elector(store, ME, clock), elector(store, OTHER, clock)
    assert leader.try_once()
    assert not standby.try_once()
    leader.release()
    assert standby.try_once()


def test_two_candidates_racing_for_a_free_lease_get_one_leader() -> None:
    store, clock = LeaseStore(), Clock()
    a, b = elector(store, ME, clock), elector(store, OTHER, clock)
    assert a.try_once()
    a.release()
    assert b.try_once()  # b takes it first
    assert not elector(store, "op-c_3", clock).try_once()  # c sees b alive


def test_a_leader_renews_with_one_request_and_reads_only_when_someone_else_wrote() -> None:
    store, clock = LeaseStore(), Clock()
    leader = elector(store, ME, clock)
    assert leader.try_once()
    reads = store.reads
    for _ in range(5):
        clock.now += 2
        assert leader.try_once()
    assert store.reads == reads  # five renewals, no read
    assert store.lease is not None
    store.lease["metadata"]["resourceVersion"] = "moved"  # someone else wrote meanwhile
    clock.now += 2
    assert leader.try_once()  # a conflict, then a read: still ours (same holder), renewed
    assert store.reads == reads + 1


def test_a_missing_lease_namespace_is_created_when_allowed_and_reported_when_not() -> None:
    store, clock = LeaseStore(), Clock()
    store.namespace = False
    leader = elector(store, ME, clock)
    leader.timing = Timing(lease_duration=0.3, renew_deadline=0.2, retry_period=0.01)
    assert leader.acquire()  # created the namespace, then the Lease
    assert store.namespace is True and store.lease is not None

    forbidden = LeaseStore()
    forbidden.namespace = None
    standby = elector(forbidden, OTHER, clock)
    standby.timing = Timing(lease_duration=0.3, renew_deadline=0.2, retry_period=0.01)
    timer = threading.Timer(0.2, standby.stop)
    timer.start()
    assert not standby.acquire()  # kept waiting (and saying why) until stopped
    assert forbidden.lease is None


def test_a_leader_renews_every_renew_interval_and_retries_a_failure_every_retry_period() -> None:
    """Renewals that succeed are spaced by the renew interval (half the deadline by default):
    the Lease is most of an idle operator's requests. A failed one is retried sooner."""
    assert Timing().renew_every == 5.0 and Timing(renew_interval=3).renew_every == 3
    store, clock = LeaseStore(), Clock()
    leader = elector(store, ME, clock)
    assert leader.try_once()
    tries: list[tuple[float, bool]] = []
    patch = store.patch

    def timed_patch(*args: Any) -> dict[str, Any]:
        tries.append((time.monotonic(), store.down))
        return patch(*args)

    store.patch = timed_patch  # type: ignore[method-assign]
    leader.timing = Timing(retry_period=0.02, renew_interval=0.25)
    thread = leader.keep(lambda why: None)
    deadline = time.monotonic() + 5
    while sum(1 for _, down in tries if not down) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    store.down = True
    while sum(1 for _, down in tries if down) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    leader.stop()
    thread.join(timeout=5)
    good = [at for at, down in tries if not down]
    failed = [at for at, down in tries if down]
    assert len(good) >= 3 and len(failed) >= 4
    assert min(b - a for a, b in itertools.pairwise(good)) >= 0.24
    assert max(b - a for a, b in itertools.pairwise(failed)) < 0.2


def test_lease_timings_out_of_order_are_refused() -> None:
    assert LeadershipSettings(lease_renew_interval_seconds=9).lease_renew_interval_seconds == 9
    with pytest.raises(ValidationError, match="renew_interval_seconds < lease_renew_deadline"):
        LeadershipSettings(lease_renew_interval_seconds=10)
    with pytest.raises(ValidationError, match="retry_period_seconds < lease_renew_deadline"):
        LeadershipSettings(lease_retry_period_seconds=12)
