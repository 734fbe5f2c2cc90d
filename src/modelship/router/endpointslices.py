"""Ready pod addresses of a Service, from its EndpointSlices (discovery.k8s.io/v1).

The fields read here are `endpoints[].addresses`, `endpoints[].conditions.ready/terminating`
and `ports[].name/port`; topology and hints are not our concern. The port named
`http` makes a pod an endpoint; the one named `grpc`, when the slice has it, is where the router
passes gRPC connections through to. The serving Services name their ports so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelship.router.routes import Endpoint

PORT_NAME = "http"
GRPC_PORT_NAME = "grpc"


def ready_endpoints(slices: Iterable[dict[str, Any]]) -> tuple[Endpoint, ...]:
    """Every ready address on the `http` port, de-duplicated, in a stable order."""
    found: set[Endpoint] = set()
    for slice_ in slices:
        if slice_.get("addressType", "IPv4") not in ("IPv4", "IPv6"):
            continue  # FQDN slices name no pod we can connect to by address
        ports = {p.get("name"): p.get("port") for p in slice_.get("ports") or []}
        port, grpc_port = ports.get(PORT_NAME), ports.get(GRPC_PORT_NAME)
        if not isinstance(port, int):
            continue
        if not isinstance(grpc_port, int):
            grpc_port = None
        for endpoint in slice_.get("endpoints") or []:
            # The API: a missing `ready` means unknown, which consumers should treat as ready.
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            # A terminating endpoint is never ready (v1 also reports it as `terminating`).
            if (endpoint.get("conditions") or {}).get("terminating") is True:
                continue
            for address in endpoint.get("addresses") or []:
                found.add(Endpoint(address, port, grpc_port))
    return tuple(sorted(found, key=lambda e: (e.host, e.port)))
