"""gRPC through the router: Triton's client, unchanged, reaches stable through the router's gRPC
port while a canary takes REST traffic; without a stable pod with a gRPC port the connection is
refused (never sent to the canary), and the counts say so.

The router (its own server) runs in a thread of this process with a static table (no API
server); the inference servers are real `python -m modelship.serving` processes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from prometheus_client import CollectorRegistry
from sklearn.linear_model import LogisticRegression
from tritonclient.utils import InferenceServerException

from modelship.contracts.routing import RouteBackend, RoutingTable
from modelship.devcluster.ports import free_ports
from modelship.router.proxy import RouterApp
from modelship.router.routes import Endpoint
from modelship.router.server import RouterServer
from modelship.router.settings import RouterSettings
from modelship.router.state import StaticSource
from support.serving import ServerProcess, iris_server
from support.waiting import wait_for


def route(version: int, service: str) -> RouteBackend:
    return RouteBackend(version=version, digest="sha256:" + "0" * 64, service=service)


@contextmanager
def router(endpoints: dict[str, tuple[Endpoint, ...]]) -> Iterator[RouterApp]:
    table = RoutingTable(
        revision=1, stable=route(1, "stable"), canary=route(2, "canary"), canary_weight=50
    )
    port, grpc_port = free_ports(2)
    settings = RouterSettings(
        namespace="ml",
        deployment="iris",
        model_name="iris",
        routing_config_map="iris-routing",
        host="127.0.0.1",
        port=port,
        grpc_port=grpc_port,
    )
    app = RouterApp(settings, StaticSource(table, endpoints), CollectorRegistry())
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(_make(app))
    thread = threading.Thread(target=lambda: loop.run_until_complete(server.serve()), daemon=True)
    thread.start()
    try:
        wait_for(server.started.is_set, what="the router listening")
        yield app
    finally:
        loop.call_soon_threadsafe(server.interrupt)
        thread.join(timeout=30)
        assert not thread.is_alive()
        loop.close()


async def _make(app: RouterApp) -> RouterServer:
    return RouterServer(app)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    with (
        iris_server(tmp_path_factory.mktemp("stable")) as stable,
        iris_server(tmp_path_factory.mktemp("canary")) as canary,
    ):
        yield [stable, canary]


def pod(server: ServerProcess, grpc: bool = True) -> Endpoint:
    return Endpoint(server.host, server.port, server.grpc_port if grpc else None)


def infer(target: str, rows: np.ndarray) -> list[int]:
    client = triton.InferenceServerClient(target)
    try:
        tensor = triton.InferInput("input", list(rows.shape), "FP64")
        tensor.set_data_from_numpy(rows)
        result = client.infer("iris", [tensor], outputs=[triton.InferRequestedOutput("predict")])
        return list(result.as_numpy("predict").tolist())
    finally:
        client.close()


def predicted(server: ServerProcess, rows: np.ndarray) -> list[int]:
    """What the served version predicts (the servers publish this recipe)."""
    return list(LogisticRegression(max_iter=1000).fit(server.x, server.y).predict(rows).tolist())


def grpc_infer_count(server: ServerProcess) -> float:
    text = httpx.get(f"http://{server.host}:{server.port}/metrics").text
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("modelship_grpc_requests_total{") and "ModelInfer" in line
    )


def router_metric(app: RouterApp, line_start: str) -> float:
    port = app.settings.port
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    (value,) = [
        line.rpartition(" ")[2] for line in text.splitlines() if line.startswith(line_start)
    ]
    return float(value)


def test_grpc_reaches_stable_only_while_rest_is_split(servers: list[ServerProcess]) -> None:
    stable, canary = servers
    with router({"stable": (pod(stable),), "canary": (pod(canary),)}) as app:
        target = f"127.0.0.1:{app.settings.grpc_port}"
        before = [grpc_infer_count(stable), grpc_infer_count(canary)]
        for _ in range(5):  # a new connection each: every one goes to stable
            assert infer(target, stable.x[:4]) == predicted(stable, stable.x[:4])
        assert [grpc_infer_count(stable), grpc_infer_count(canary)] == [before[0] + 5, before[1]]
        # REST through the same router is split by weight meanwhile.
        body = {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 4],
                            "data": stable.x[:1].tolist()}]}  # fmt: skip
        url = f"http://127.0.0.1:{app.settings.port}/v2/models/iris/infer"
        answered = [httpx.post(url, json=body).headers["x-modelship-backend"] for _ in range(4)]
        assert sorted(answered) == ["canary", "canary", "stable", "stable"]
        forwarded = 'modelship_router_grpc_connections_total{outcome="forwarded"}'
        assert router_metric(app, forwarded) == 5
        assert router_metric(app, "modelship_router_grpc_connections_open ") == 0


def test_without_a_stable_grpc_port_the_connection_is_refused(
    servers: list[ServerProcess],
) -> None:
    stable, canary = servers
    with router({"stable": (pod(stable, grpc=False),), "canary": (pod(canary),)}) as app:
        before = grpc_infer_count(canary)
        with pytest.raises(InferenceServerException):
            infer(f"127.0.0.1:{app.settings.grpc_port}", stable.x[:1])
        assert grpc_infer_count(canary) == before  # never the canary instead
        refused = 'modelship_router_grpc_connections_total{outcome="refused"}'
        assert router_metric(app, refused) >= 1


def test_a_dead_stable_pod_is_skipped(servers: list[ServerProcess]) -> None:
    stable, _ = servers
    dead = Endpoint("127.0.0.1", *free_ports(2))  # nothing listens there
    with router({"stable": (dead, pod(stable))}) as app:
        target = f"127.0.0.1:{app.settings.grpc_port}"
        for _ in range(3):
            assert infer(target, stable.x[::50]) == predicted(stable, stable.x[::50])
