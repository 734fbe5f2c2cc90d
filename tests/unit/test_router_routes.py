"""Choosing a backend: exact weights, pinning, round robin, and tables that must be ignored."""

from __future__ import annotations

import json
import random

import pytest

from modelship.contracts.routing import ROUTING_KEY, RouteBackend, RoutingTable
from modelship.router.routes import Endpoint, Split, build_routes
from modelship.router.state import RoutingState, StaticSource

DIGEST = "sha256:" + "a" * 64
STABLE = RouteBackend(version=3, digest=DIGEST, service="iris-v3")
CANARY = RouteBackend(version=4, digest=DIGEST, service="iris-v4")
PODS = {
    "iris-v3": (Endpoint("10.0.0.1", 8080), Endpoint("10.0.0.2", 8080)),
    "iris-v4": (Endpoint("10.0.1.1", 8080),),
}


def table(weight: int = 0, revision: int = 1, **fields: object) -> RoutingTable:
    return RoutingTable(
        revision=revision, stable=STABLE, canary=CANARY, canary_weight=weight, **fields
    )


@pytest.mark.parametrize("weight", [0, 1, 10, 33, 50, 90, 100])
def test_canary_gets_exactly_its_weight_of_1000_requests(weight: int) -> None:
    routes = build_routes(table(weight), PODS)
    answered = [routes.choose(None) for _ in range(1000)]
    assert sum(b is routes.canary for b in answered) == weight * 10


@pytest.mark.parametrize("weight", [10, 50, 90])
def test_every_window_is_within_two_requests_of_the_weight(weight: int) -> None:
    """Whole blocks are exact; a window cut through a block at each end is off by less than
    one block's share at each end (one request at these weights)."""
    split = Split(weight)
    picks = [split.take() for _ in range(500)]
    for start in range(0, 400, 7):
        for length in (10, 37, 100):
            window = picks[start : start + length]
            assert abs(sum(window) - length * weight / 100) < 2, (start, length)


@pytest.mark.parametrize(("weight", "period"), [(50, 2), (50, 6), (10, 10), (25, 4), (33, 3)])
def test_periodic_traffic_reaches_both_versions_with_every_input(weight: int, period: int) -> None:
    """Inputs that repeat with a period (a client cycling over a few rows) must not alias with
    the weighting: each input reaches the canary about `weight` % of the times it is sent, so
    stable and canary are compared on the same traffic."""
    split = Split(weight, random.Random(7))
    to_canary = [0] * period
    rounds = 400
    for _ in range(rounds):
        for row in range(period):
            to_canary[row] += split.take()
    for row, count in enumerate(to_canary):
        assert abs(count / rounds - weight / 100) < 0.1, (row, to_canary)


def test_a_pinned_version_goes_to_its_backend_whatever_the_weight() -> None:
    routes = build_routes(table(weight=0), PODS)
    assert routes.choose(b"4") is routes.canary
    assert routes.choose(b"3") is routes.stable
    assert routes.choose(b"7") is None  # nobody serves it: the proxy answers 404
    # Pinned requests take no turn from the weighting.
    weighted = build_routes(table(weight=50), PODS)
    for _ in range(10):
        weighted.choose(b"3")
    pairs = [{weighted.choose(None).name for _ in range(2)} for _ in range(4)]
    assert pairs == [{"stable", "canary"}] * 4  # at 50 %: one of each in every pair


def test_pods_of_a_backend_take_turns() -> None:
    routes = build_routes(table(), PODS)
    hosts = [routes.stable.endpoint().host for _ in range(4)]  # type: ignore[union-attr]
    assert hosts == ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"]


def test_a_canary_without_ready_pods_leaves_its_share_to_stable() -> None:
    routes = build_routes(table(weight=50), {"iris-v3": PODS["iris-v3"]})
    assert {routes.choose(None).name for _ in range(10)} == {"stable"}  # type: ignore[union-attr]


def test_endpoint_changes_keep_the_weighting_going() -> None:
    state = RoutingState()
    state.set_table(table(weight=50))
    state.set_endpoints("iris-v3", PODS["iris-v3"])
    state.set_endpoints("iris-v4", PODS["iris-v4"])
    assert state.routes is not None
    first = state.routes.choose(None)
    state.set_endpoints("iris-v3", PODS["iris-v3"][:1])  # a pod went away
    second = state.routes.choose(None)
    assert {first.name, second.name} == {"stable", "canary"}  # type: ignore[union-attr]


def test_a_stale_table_is_ignored_and_the_newer_one_stays() -> None:
    state = RoutingState()
    assert state.set_table(table(weight=50, revision=5))
    assert not state.set_table(table(weight=10, revision=4))
    assert state.table is not None and state.table.canary_weight == 50
    assert state.set_table(table(weight=90, revision=6))
    assert state.table.canary_weight == 90


def test_readiness_needs_a_table_and_ready_stable_pods() -> None:
    state = RoutingState()
    assert not state.ready
    state.set_table(table(weight=10))
    assert not state.ready
    state.set_endpoints("iris-v4", PODS["iris-v4"])
    assert not state.ready  # the canary alone cannot answer everything
    state.set_endpoints("iris-v3", PODS["iris-v3"])
    assert state.ready


def test_services_followed_change_with_the_table() -> None:
    seen: list[frozenset[str]] = []
    state = RoutingState()
    state.on_services(seen.append)
    state.set_table(table(weight=10))
    state.set_table(table(weight=20, revision=2))  # same Services: no call
    state.set_table(RoutingTable(revision=3, stable=CANARY))
    assert seen == [frozenset({"iris-v3", "iris-v4"}), frozenset({"iris-v4"})]


async def test_the_static_source_installs_its_table_and_pods() -> None:
    state = RoutingState()
    await StaticSource(table(weight=10), PODS).run(state)
    assert state.ready and state.routes is not None
    assert state.routes.canary is not None and state.routes.canary.endpoints == PODS["iris-v4"]


def test_the_configmap_data_round_trips_and_rejects_garbage() -> None:
    written = table(weight=10, shadow=CANARY, shadow_percent=20).to_data()
    assert RoutingTable.from_data(written) == table(weight=10, shadow=CANARY, shadow_percent=20)
    with pytest.raises(ValueError):
        RoutingTable.from_data({})
    with pytest.raises(ValueError):
        RoutingTable.from_data({ROUTING_KEY: json.dumps({"revision": 1})})
    with pytest.raises(ValueError):
        Split(101)
