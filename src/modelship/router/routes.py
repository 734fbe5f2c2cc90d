"""Which backend and which pod answers a request: pure, unit-tested.

Weights are applied in shuffled blocks rather than by a random draw per request: a block is the
shortest run of requests in which the weight is a whole number of them (2 at 50 %, 10 at 10 %,
100 at 33 %), and exactly that many of each block go to the canary. Over any window the share is
within one block's share of the weight at each end (within two requests at 10, 50 or 90 %); a
random draw would only be right in expectation, and the analysis and the end-to-end check (share
within 3 points over 1,000 requests) would be flaky for it. The order inside a block is
shuffled: a fixed order (plain error diffusion) aliases with clients whose requests repeat with
a period — two alternating inputs at 50 % would each always reach the same version — and the
versions would then be compared on different traffic.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from modelship.contracts.routing import RouteBackend, RoutingTable

STABLE, CANARY, SHADOW = "stable", "canary", "shadow"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ready pod of a backend: where to open connections (HTTP, and gRPC if it has it)."""

    host: str
    port: int
    grpc_port: int | None = None


class Split:
    """Says yes to exactly `percent` of every block of calls, in a shuffled order (see above)."""

    __slots__ = ("_pending", "_random", "percent")

    def __init__(self, percent: int, rng: random.Random | None = None) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be within 0..100, not {percent}")
        self.percent = percent
        self._random = rng if rng is not None else random.Random()
        self._pending: list[bool] = []

    def take(self) -> bool:
        if not self._pending:
            self._pending = self._block()
        return self._pending.pop()

    def _block(self) -> list[bool]:
        common = math.gcd(self.percent, 100)
        size, yes = 100 // common, self.percent // common
        block = [True] * yes + [False] * (size - yes)
        self._random.shuffle(block)
        return block


@dataclass(slots=True)
class Backend:
    """A version behind the router with the ready pods of its Service, in round-robin order."""

    name: str
    route: RouteBackend
    endpoints: tuple[Endpoint, ...]
    header: bytes = b""
    _next: int = 0
    _next_grpc: int = 0

    def __post_init__(self) -> None:
        self.header = self.name.encode()

    def endpoint(self) -> Endpoint | None:
        if not self.endpoints:
            return None
        index = self._next % len(self.endpoints)
        self._next = index + 1
        return self.endpoints[index]

    def grpc_endpoint(self) -> Endpoint | None:
        """The next pod with a gRPC port, round robin (a connection, not a request, each)."""
        serving = [e for e in self.endpoints if e.grpc_port is not None]
        if not serving:
            return None
        index = self._next_grpc % len(serving)
        self._next_grpc = index + 1
        return serving[index]


@dataclass(slots=True)
class Routes:
    """One consistent view of the table and the endpoints; rebuilt when either changes."""

    table: RoutingTable
    stable: Backend
    canary: Backend | None
    shadow: Backend | None
    canary_split: Split
    shadow_split: Split
    by_version: dict[bytes, Backend] = field(default_factory=dict)

    def choose(self, pinned: bytes | None) -> Backend | None:
        """The backend for one request; None for a pinned version nobody serves.

        A weighted pick of a canary without ready pods goes to stable: the caller gets an
        answer, and the canary's share shows the shortfall in the router's metrics.
        """
        if pinned is not None:
            return self.by_version.get(pinned.strip())
        canary = self.canary
        if canary is not None and self.canary_split.take() and canary.endpoints:
            return canary
        return self.stable

    def mirror(self) -> Backend | None:
        """The shadow backend when this request is one of the mirrored share."""
        shadow = self.shadow
        if shadow is not None and self.shadow_split.take():
            return shadow
        return None

    @property
    def ready(self) -> bool:
        return bool(self.stable.endpoints)


def build_routes(
    table: RoutingTable,
    endpoints: dict[str, tuple[Endpoint, ...]],
    previous: Routes | None = None,
) -> Routes:
    """Routes for `table`; the splits (and round-robin positions) carry over from `previous`
    while their weights do not change, so endpoint churn does not reset the weighting."""

    def backend(name: str, route: RouteBackend | None) -> Backend | None:
        if route is None:
            return None
        made = Backend(name, route, endpoints.get(route.service, ()))
        if previous is not None:
            old = getattr(previous, name)
            if old is not None and old.route.service == route.service:
                made._next = old._next
                made._next_grpc = old._next_grpc
        return made

    stable = backend(STABLE, table.stable)
    assert stable is not None
    canary = backend(CANARY, table.canary)
    shadow = backend(SHADOW, table.shadow)
    canary_split = _carry(previous.canary_split if previous else None, table.canary_weight)
    shadow_split = _carry(previous.shadow_split if previous else None, table.shadow_percent)
    by_version: dict[bytes, Backend] = {}
    # Stable last: it wins should both ever carry the same version.
    for candidate in (canary, stable):
        if candidate is not None:
            by_version[str(candidate.route.version).encode()] = candidate
    return Routes(table, stable, canary, shadow, canary_split, shadow_split, by_version)


def _carry(old: Split | None, percent: int) -> Split:
    return old if old is not None and old.percent == percent else Split(percent)
