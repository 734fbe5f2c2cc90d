"""The router in front of two real inference servers: shares, pinning, health, metrics."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier

from modelship.contracts.routing import BACKEND_HEADER, VERSION_HEADER, RoutingTable
from modelship.contracts.serving_metrics import (
    ROUTER_REQUEST_DURATION_SECONDS,
    ROUTER_REQUESTS_TOTAL,
    SHADOW_DURATION_SECONDS,
    SHADOW_REQUESTS_TOTAL,
    SHADOW_ROWS_TOTAL,
)
from modelship.router.metrics import IN_FLIGHT
from modelship.router.proxy import RouterApp
from support.router import (
    InProcess,
    RawBackend,
    RouterInProcess,
    backend,
    inference_app,
    json_reply,
    publish_iris,
    static_router,
)

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
    router = await RouterInProcess(app).start()
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
        # Pinned to stable: inference routes take turns, and the next turn's side is random.
        stable = {VERSION_HEADER: str(servers["versions"]["v1"])}
        v1_predict = await client.post(
            "/v1/models/iris:predict", json={"instances": ROWS}, headers=stable
        )
        assert v1_predict.status_code == 200 and "predictions" in v1_predict.json()
        assert (await client.get("/router/ready")).json() == {"ready": True}
        assert (await client.get("/router/live")).status_code == 200
        bad = await client.post("/v2/models/iris/infer", content=b"{", headers=stable)
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


def shadow_table(servers: dict[str, Any], shadow: str, percent: int) -> RoutingTable:
    return RoutingTable(
        revision=1,
        stable=backend(servers["versions"]["v1"], "stable"),
        shadow=backend(servers["versions"]["v1" if shadow == "v1-twin" else "v2"], "shadow"),
        shadow_percent=percent,
    )


async def mirrored(app: RouterApp, path: str, count: int) -> list[httpx.Response]:
    router, client = await routed(app)
    try:
        answers = [await client.post(path, json=BODY) for _ in range(count)]
        await app.shadow.drain()
        return answers
    finally:
        await client.aclose()
        await router.stop()


async def test_shadow_rows_agree_with_a_twin_and_disagree_with_another_model(
    servers: dict[str, Any],
) -> None:
    twin = static_router(
        shadow_table(servers, "v1-twin", 100),
        {"stable": (servers["v1"].endpoint,), "shadow": (servers["v1-twin"].endpoint,)},
    )
    answers = await mirrored(twin, "/v2/models/iris/infer", 10)
    assert {a.headers[BACKEND_HEADER] for a in answers} == {"stable"}
    sample = twin.registry.get_sample_value
    assert sample(SHADOW_REQUESTS_TOTAL, {"outcome": "compared"}) == 10
    assert sample(SHADOW_ROWS_TOTAL, {"agreement": "agree"}) == 30
    assert sample(SHADOW_ROWS_TOTAL, {"agreement": "disagree"}) == 0
    for side in ("production", "shadow"):
        assert sample(SHADOW_DURATION_SECONDS + "_count", {"side": side}) == 10

    # The constant-0 model agrees only on the first row (a setosa); half the requests mirrored,
    # through the versioned route, which names production's version, not the shadow's.
    other = static_router(
        shadow_table(servers, "v2", 50),
        {"stable": (servers["v1"].endpoint,), "shadow": (servers["v2"].endpoint,)},
    )
    path = f"/v2/models/iris/versions/{servers['versions']['v1']}/infer"
    assert all(a.status_code == 200 for a in await mirrored(other, path, 10))
    sample = other.registry.get_sample_value
    assert sample(SHADOW_REQUESTS_TOTAL, {"outcome": "compared"}) == 5
    assert sample(SHADOW_ROWS_TOTAL, {"agreement": "agree"}) == 5
    assert sample(SHADOW_ROWS_TOTAL, {"agreement": "disagree"}) == 10


def raw_request() -> tuple[bytes, dict[str, str]]:
    """BODY as Triton's HTTP client sends it: rows as raw bytes, outputs asked raw."""
    header = json.dumps(
        {
            "inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP64",
                        "parameters": {"binary_data_size": 96}}],
            "parameters": {"binary_data_output": True},
        }
    ).encode()  # fmt: skip
    raw = np.asarray(ROWS, dtype="<f8").tobytes()
    return header + raw, {"Inference-Header-Content-Length": str(len(header))}


async def test_raw_answers_reach_callers_and_are_compared_like_json(
    servers: dict[str, Any],
) -> None:
    body, headers = raw_request()
    for shadow, agree, disagree in (("v1-twin", 15, 0), ("v2", 5, 10)):
        app = static_router(
            shadow_table(servers, shadow, 100),
            {"stable": (servers["v1"].endpoint,), "shadow": (servers[shadow].endpoint,)},
        )
        router, client = await routed(app)
        try:
            answers = [
                await client.post("/v2/models/iris/infer", content=body, headers=headers)
                for _ in range(5)
            ]
            await app.shadow.drain()
        finally:
            await client.aclose()
            await router.stop()
        length = int(answers[0].headers["inference-header-content-length"])
        document = json.loads(answers[0].content[:length])
        assert document["outputs"][0]["parameters"] == {"binary_data_size": 24}
        assert np.frombuffer(answers[0].content[length:], "<i8").tolist() == [0, 2, 1]
        sample = app.registry.get_sample_value
        assert sample(SHADOW_REQUESTS_TOTAL, {"outcome": "compared"}) == 5, shadow
        assert sample(SHADOW_ROWS_TOTAL, {"agreement": "agree"}) == agree
        assert sample(SHADOW_ROWS_TOTAL, {"agreement": "disagree"}) == disagree


async def test_a_slow_shadow_never_delays_callers_and_overflow_is_dropped(
    servers: dict[str, Any],
) -> None:
    slow = await RawBackend(lambda _: json_reply(b"{}", "500 Internal Server Error"), 0.5).start()
    app = static_router(
        shadow_table(servers, "v2", 100),
        {"stable": (servers["v1"].endpoint,), "shadow": (slow.endpoint,)},
        shadow_queue_size=1,
        shadow_workers=1,
    )
    router, client = await routed(app)
    try:
        for _ in range(6):
            started = time.perf_counter()
            assert (await client.post("/v2/models/iris/infer", json=BODY)).status_code == 200
            assert time.perf_counter() - started < 0.4  # the shadow takes 0.5 s per request
        await app.shadow.drain()
    finally:
        await client.aclose()
        await router.stop()
        await slow.stop()
    sample = app.registry.get_sample_value
    dropped = sample(SHADOW_REQUESTS_TOTAL, {"outcome": "dropped"})
    errors = sample(SHADOW_REQUESTS_TOTAL, {"outcome": "error"})  # the shadow answered 500
    assert dropped is not None and errors is not None
    assert dropped >= 3 and dropped + errors == 6
    assert sample(SHADOW_REQUESTS_TOTAL, {"outcome": "compared"}) == 0


async def test_the_router_names_unnamed_requests_once_for_every_backend(
    servers: dict[str, Any],
) -> None:
    app = static_router(*canary_table(servers, weight=50))
    router, client = await routed(app)
    try:
        ids = []
        for _ in range(6):
            answer = await client.post("/v2/models/iris/infer", json=BODY)
            ids.append(answer.json()["id"])
        # The router's id (32 hex digits), not one each server would generate (a UUIDv7).
        assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids) and len(set(ids)) == 6
        named = await client.post(
            "/v2/models/iris/infer", json=BODY, headers={"X-Request-Id": "caller-1"}
        )
        assert named.json()["id"] == "caller-1"
        health = await client.get("/v2/health/ready")
        assert health.status_code == 200
    finally:
        await client.aclose()
        await router.stop()
