"""The router in front of two real inference servers: shares, pinning, health, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier

from modelship.contracts.routing import BACKEND_HEADER, VERSION_HEADER, RoutingTable
from modelship.contracts.serving_metrics import (
    ROUTER_REQUEST_DURATION_SECONDS,
    ROUTER_REQUESTS_TOTAL,
)
from modelship.router.metrics import IN_FLIGHT
from modelship.router.proxy import RouterApp
from support.router import InProcess, backend, inference_app, publish_iris, static_router

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
BODY = {
    "inputs": [
        {"name": "x", "shape": [3, 4], "datatype": "FP64", "data": [v for row in ROWS for v in row]}
    ]
}


@pytest.fixture(scope="module")
async def servers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    root: Path = tmp_path_factory.mktemp("catalog")
    v1 = publish_iris(root)
    x, y = load_iris(return_X_y=True)
    v2 = publish_iris(root, DummyClassifier(strategy="constant", constant=0).fit(x, y))
    started = {
        "v1": await InProcess(inference_app(root, v1)).start(),
        "v1-twin": await InProcess(inference_app(root, v1)).start(),
        "v2": await InProcess(inference_app(root, v2)).start(),
    }
    yield {"root": root, "versions": {"v1": v1.version, "v2": v2.version}, **started}
    for server in started.values():
        await server.stop()


async def routed(app: RouterApp) -> tuple[InProcess, httpx.AsyncClient]:
    router = await InProcess(app).start()
    return router, httpx.AsyncClient(base_url=f"http://127.0.0.1:{router.port}")


def canary_table(servers: dict[str, Any], weight: int) -> tuple[RoutingTable, dict[str, Any]]:
    table = RoutingTable(
        revision=1,
        stable=backend(servers["versions"]["v1"], "stable"),
        canary=backend(servers["versions"]["v2"], "canary"),
        canary_weight=weight,
    )
    endpoints = {
        "stable": (servers["v1"].endpoint, servers["v1-twin"].endpoint),
        "canary": (servers["v2"].endpoint,),
    }
    return table, endpoints


async def test_shares_pinning_and_health_through_the_router(servers: dict[str, Any]) -> None:
    app = static_router(*canary_table(servers, weight=10))
    router, client = await routed(app)
    try:
        answered: dict[str, int] = {}
        for _ in range(200):
            answer = await client.post("/v2/models/iris/infer", json=BODY)
            assert answer.status_code == 200, answer.text
            name = answer.headers[BACKEND_HEADER]
            answered[name] = answered.get(name, 0) + 1
            expected = servers["versions"]["v2" if name == "canary" else "v1"]
            assert answer.json()["model_version"] == str(expected)
        assert answered == {"stable": 180, "canary": 20}

        pinned = await client.post(
            "/v2/models/iris/infer",
            json=BODY,
            headers={VERSION_HEADER: str(servers["versions"]["v2"])},
        )
        assert pinned.headers[BACKEND_HEADER] == "canary"
        assert pinned.json()["outputs"][0]["data"] == [0, 0, 0]
        unknown = await client.post(
            "/v2/models/iris/infer", json=BODY, headers={VERSION_HEADER: "99"}
        )
        assert unknown.status_code == 404
        assert unknown.json() == {"error": "no backend serves version 99"}

        # Health and metadata are stable's and take no turn from the weighting.
        for _ in range(20):
            health = await client.get("/v2/health/ready")
            assert health.status_code == 200 and health.headers[BACKEND_HEADER] == "stable"
        v1_predict = await client.post("/v1/models/iris:predict", json={"instances": ROWS})
        assert v1_predict.status_code == 200 and "predictions" in v1_predict.json()
        assert (await client.get("/router/ready")).json() == {"ready": True}
        assert (await client.get("/router/live")).status_code == 200
        bad = await client.post("/v2/models/iris/infer", content=b"{")
        assert bad.status_code == 400 and "error" in bad.json()  # the server's own answer

        # Three pods, one keep-alive connection each for sequential requests.
        assert app.upstream.opened == 3

        exposition = (await client.get("/metrics")).text
        for name in (ROUTER_REQUESTS_TOTAL, ROUTER_REQUEST_DURATION_SECONDS + "_count", IN_FLIGHT):
            assert name in exposition
        sample = app.registry.get_sample_value
        labels = {"backend": "canary", "code": "200"}
        assert sample(ROUTER_REQUESTS_TOTAL, labels) == 21
        assert sample(ROUTER_REQUESTS_TOTAL, {"backend": "none", "code": "404"}) == 1
        assert sample(ROUTER_REQUEST_DURATION_SECONDS + "_count", {"backend": "stable"}) == 202
    finally:
        await client.aclose()
        await router.stop()


async def test_a_big_body_is_refused_before_forwarding(servers: dict[str, Any]) -> None:
    app = static_router(*canary_table(servers, weight=0), max_body_bytes=1024)
    router, client = await routed(app)
    try:
        answer = await client.post("/v2/models/iris/infer", content=b"x" * 5000)
        assert answer.status_code == 413 and "error" in answer.json()
        assert app.upstream.opened == 0
    finally:
        await client.aclose()
        await router.stop()
