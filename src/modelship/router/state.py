"""What the router currently knows, fed by a `RoutingSource`, read by the proxy per request.

A source (the API, or a static table in tests and benchmarks) pushes tables and endpoints in;
the proxy only reads `routes`, a snapshot rebuilt on every change, so a request never sees half
an update. Stale or invalid tables are ignored and the last good one stays in force.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from modelship.contracts.routing import RoutingTable
from modelship.router.routes import Endpoint, Routes, build_routes

log = logging.getLogger(__name__)


class RoutingState:
    def __init__(self) -> None:
        self.table: RoutingTable | None = None
        self.endpoints: dict[str, tuple[Endpoint, ...]] = {}
        self.routes: Routes | None = None
        self._on_services: list[Callable[[frozenset[str]], None]] = []
        self._on_routes: list[Callable[[Routes], None]] = []

    def set_table(self, table: RoutingTable) -> bool:
        """Apply `table` unless it is older than the one in force; True when applied."""
        if self.table is not None and table.revision < self.table.revision:
            log.info(
                "ignoring routing table revision %d: %d is in force",
                table.revision,
                self.table.revision,
            )
            return False
        services_before = self.services()
        self.table = table
        self._rebuild()
        services = self.services()
        if services != services_before:
            for callback in self._on_services:
                callback(services)
        return True

    def set_endpoints(self, service: str, endpoints: tuple[Endpoint, ...]) -> None:
        self.endpoints[service] = endpoints
        self._rebuild()

    def forget(self, service: str) -> None:
        self.endpoints.pop(service, None)

    def services(self) -> frozenset[str]:
        """The Services whose endpoints the current table needs."""
        table = self.table
        if table is None:
            return frozenset()
        backends = (table.stable, table.canary, table.shadow)
        return frozenset(b.service for b in backends if b is not None)

    def on_services(self, callback: Callable[[frozenset[str]], None]) -> None:
        """Call `callback` with the new set whenever the table names other Services."""
        self._on_services.append(callback)

    def on_routes(self, callback: Callable[[Routes], None]) -> None:
        """Call `callback` with every new snapshot (e.g. to close connections to gone pods)."""
        self._on_routes.append(callback)

    @property
    def ready(self) -> bool:
        return self.routes is not None and self.routes.ready

    def _rebuild(self) -> None:
        if self.table is None:
            return
        self.routes = build_routes(self.table, self.endpoints, self.routes)
        for callback in self._on_routes:
            callback(self.routes)


class RoutingSource(Protocol):
    """Feeds a RoutingState until cancelled."""

    async def run(self, state: RoutingState) -> None: ...


class StaticSource:
    """A fixed table and fixed endpoints (tests and benchmarks; no API server)."""

    def __init__(self, table: RoutingTable, endpoints: dict[str, tuple[Endpoint, ...]]) -> None:
        self.table = table
        self.endpoints = endpoints

    async def run(self, state: RoutingState) -> None:
        state.set_table(self.table)
        for service, endpoints in self.endpoints.items():
            state.set_endpoints(service, endpoints)
