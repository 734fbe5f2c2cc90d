"""The autoscaler's stable and panic windows on a fake clock: no cluster, no sleeping."""

from __future__ import annotations

import pytest

from modelship.operator.deployment.autoscale import Reading, Recommendation, Windows, wanted

KEY = ("ns", "iris")
TARGET = 10.0


def feed(
    windows: Windows, start: float, seconds: float, concurrency: float, ready: int
) -> Recommendation:
    """One reading per second from `start` for `seconds`; the last recommendation."""
    last = None
    for tick in range(int(seconds)):
        last = windows.record(KEY, Reading(start + tick, concurrency, ready), TARGET, ready, None)
    assert last is not None
    return last


def test_wanted_pods_round_up_and_idle_wants_none() -> None:
    assert wanted(0, 10) == 0
    assert wanted(10, 10) == 1
    assert wanted(10.5, 10) == 2
    assert wanted(30.000000001, 10) == 3  # float noise does not buy a pod


def test_a_steady_load_is_judged_on_the_stable_average() -> None:
    windows = Windows(stable_seconds=60, panic_seconds=6)
    rec = feed(windows, 0, 60, concurrency=25, ready=3)
    assert (rec.replicas, rec.panic) == (3, False)
    assert rec.stable_concurrency == 25 and rec.panic_concurrency == 25
    assert rec.samples == 60


def test_readings_older_than_the_stable_window_leave_it() -> None:
    windows = Windows(stable_seconds=10, panic_seconds=2)
    feed(windows, 0, 10, concurrency=50, ready=5)
    rec = feed(windows, 10, 10, concurrency=10, ready=5)
    assert rec.samples == 10 and rec.stable_concurrency == 10
    assert rec.replicas == 1


def test_the_stable_window_is_full_only_once_it_has_been_covered() -> None:
    windows = Windows(stable_seconds=10, panic_seconds=2)
    assert not feed(windows, 0, 10, concurrency=0, ready=1).window_full  # 0..9: 9 s covered
    assert windows.record(KEY, Reading(10, 0, 1), TARGET, 1, None).window_full


def test_a_burst_panics_and_follows_the_panic_window_at_once() -> None:
    windows = Windows(stable_seconds=60, panic_seconds=6)
    feed(windows, 0, 60, concurrency=10, ready=1)  # calm: one pod carries it
    rec = feed(windows, 60, 3, concurrency=80, ready=1)  # a burst of 80 in flight
    # panic window: (3*10 + 3*80)/6 = 45 -> 5 pods >= 2 x 1 ready: panic; stable still wants 2
    assert rec.panic and rec.replicas == 5
    assert rec.panic_concurrency == 45 and rec.stable_concurrency == pytest.approx(13.5)


def test_below_twice_the_ready_pods_there_is_no_panic() -> None:
    windows = Windows(stable_seconds=60, panic_seconds=6)
    feed(windows, 0, 60, concurrency=20, ready=2)
    rec = feed(windows, 60, 6, concurrency=35, ready=2)  # panic wants 4 = 2 x 2: panics
    assert rec.panic
    windows = Windows(stable_seconds=60, panic_seconds=6)
    feed(windows, 0, 60, concurrency=20, ready=2)
    rec = feed(windows, 60, 6, concurrency=30, ready=2)  # panic wants 3 < 4: stable decides
    assert not rec.panic and rec.replicas == 3  # ceil(21.5 / 10)


def test_in_panic_the_recommendation_never_falls_until_a_calm_stable_window() -> None:
    windows = Windows(stable_seconds=20, panic_seconds=4)
    feed(windows, 0, 20, concurrency=5, ready=1)
    peak = feed(windows, 20, 4, concurrency=100, ready=1)
    assert peak.panic and peak.replicas == 10
    # The burst ends; panic holds the peak while the stable window still remembers it.
    rec = feed(windows, 24, 10, concurrency=5, ready=10)
    assert rec.panic and rec.replicas == 10
    # 20 s after the panic condition last held, the stable window alone decides again.
    rec = feed(windows, 34, 12, concurrency=5, ready=10)
    assert not rec.panic and rec.replicas == 1


def test_series_are_kept_per_deployment_and_forgotten() -> None:
    windows = Windows(stable_seconds=10, panic_seconds=2)
    windows.record(("ns", "a"), Reading(0, 30, 1), TARGET, 1, None)
    windows.record(("ns", "b"), Reading(0, 5, 1), TARGET, 1, None)
    assert windows.latest(("ns", "a")) is not None
    assert windows.latest(("ns", "a")).replicas == 3  # type: ignore[union-attr]
    assert windows.latest(("ns", "b")).replicas == 1  # type: ignore[union-attr]
    windows.forget(("ns", "a"))
    assert windows.latest(("ns", "a")) is None


def test_a_failed_read_keeps_the_windows_and_says_so() -> None:
    windows = Windows(stable_seconds=10, panic_seconds=2)
    windows.failed(KEY, "nothing yet")  # no series: nothing to annotate
    assert windows.latest(KEY) is None
    feed(windows, 0, 3, concurrency=30, ready=3)
    windows.failed(KEY, "pod-a: metrics unreadable")
    rec = windows.latest(KEY)
    assert rec is not None and rec.replicas == 3 and rec.samples == 3
    assert rec.error == "pod-a: metrics unreadable" and rec.pods_read == 0


def test_a_reconcile_is_worth_it_only_when_the_recommendation_moves_or_goes_stale() -> None:
    windows = Windows(stable_seconds=10, panic_seconds=2)
    assert not windows.worth_reconciling(KEY, 30)  # nothing read yet
    feed(windows, 0, 2, concurrency=10, ready=1)
    assert windows.worth_reconciling(KEY, 30)
    assert not windows.worth_reconciling(KEY, 30)  # told already
    feed(windows, 2, 2, concurrency=10, ready=1)
    assert not windows.worth_reconciling(KEY, 30)  # same recommendation
    feed(windows, 4, 2, concurrency=40, ready=1)
    assert windows.worth_reconciling(KEY, 30)  # moved
    feed(windows, 6, 40, concurrency=40, ready=4)
    assert windows.worth_reconciling(KEY, 30)  # the window became full
    feed(windows, 46, 31, concurrency=40, ready=4)
    assert windows.worth_reconciling(KEY, 30)  # same, but the figures in status are stale


def test_the_panic_window_must_fit_in_the_stable_window() -> None:
    with pytest.raises(ValueError, match="panic window"):
        Windows(stable_seconds=5, panic_seconds=6)
