"""What callers get when backends misbehave: framing variants, timeouts, deaths, drains."""

from __future__ import annotations

import asyncio

import httpx
import uvloop

from modelship.contracts.routing import BACKEND_HEADER, RoutingTable
from modelship.contracts.serving_metrics import ROUTER_REQUESTS_TOTAL
from modelship.router.proxy import RouterApp
from modelship.router.upstream import Upstream
from support.router import RawBackend, RouterInProcess, backend, json_reply, static_router

OK = b'{"outputs":[]}'


def alone(raw: RawBackend, **settings: object) -> RouterApp:
    table = RoutingTable(revision=1, stable=backend(1, "stable"))
    return static_router(table, {"stable": (raw.endpoint,)}, **settings)


async def call(app: RouterApp, *paths: str) -> list[httpx.Response]:
    router = await RouterInProcess(app).start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{router.port}") as client:
            return [await client.post(path, content=b"{}") for path in paths]
    finally:
        await router.stop()


async def test_chunked_and_close_delimited_answers_are_forwarded_whole() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n"
        b"5\r\n" + OK[:5] + b"\r\n" + b"%x\r\n" % len(OK[5:]) + OK[5:] + b"\r\n0\r\n\r\n"
    )
    closing = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n" + OK
    for reply in (chunked, closing):
        raw = await RawBackend(lambda _, r=reply: r).start()  # type: ignore[misc]
        try:
            answers = await call(alone(raw), "/v2/models/iris/infer", "/v2/models/iris/infer")
        finally:
            await raw.stop()
        assert [(a.status_code, a.content) for a in answers] == [(200, OK)] * 2
        assert answers[0].headers[BACKEND_HEADER] == "stable"
        assert answers[0].headers["content-length"] == str(len(OK))


async def test_a_backend_that_closes_idle_connections_costs_the_caller_nothing() -> None:
    # It answers each request and then hangs up, as a server whose keep-alive timed out would:
    # the router must notice (or retry on a fresh connection), never answer 502.
    raw = await RawBackend(lambda _: None).start()
    replies = iter([json_reply(OK)] * 100)
    raw.reply = lambda _: next(replies)
    app = alone(raw)
    router = await RouterInProcess(app).start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{router.port}") as client:
            for _ in range(5):
                answer = await client.post("/v2/models/iris/infer", content=b"{}")
                assert answer.status_code == 200
                # Drop every connection the backend holds.
                for writer in list(raw._writers):
                    writer.close()
                await asyncio.sleep(0.05)
    finally:
        await router.stop()
        await raw.stop()
    assert raw.requests == 5


async def test_a_slow_backend_gives_504_and_a_dead_one_502_until_it_is_back() -> None:
    slow = await RawBackend(lambda _: json_reply(OK), delay=1.0).start()
    try:
        (answer,) = await call(alone(slow, request_timeout_seconds=0.2), "/v2/health/ready")
    finally:
        await slow.stop()
    assert answer.status_code == 504
    assert answer.json() == {"error": "stable backend: backend did not answer in time"}

    raw = await RawBackend(lambda _: json_reply(OK)).start()
    app = alone(raw)
    router = await RouterInProcess(app).start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{router.port}") as client:
            assert (await client.post("/v2/models/iris/infer")).status_code == 200
            await raw.stop()
            dead = await client.post("/v2/models/iris/infer")
            assert dead.status_code == 502, dead.text
            assert dead.json()["error"].startswith("stable backend: ")
            assert dead.headers[BACKEND_HEADER] == "stable"
            await raw.start(raw.port)  # the pod is back on the same address
            assert (await client.post("/v2/models/iris/infer")).status_code == 200
    finally:
        await router.stop()
        await raw.stop()
    assert (
        app.registry.get_sample_value(ROUTER_REQUESTS_TOTAL, {"backend": "stable", "code": "502"})
        == 1
    )


async def test_a_refusing_pod_is_skipped_for_another_one_of_the_same_backend() -> None:
    raw = await RawBackend(lambda _: json_reply(OK)).start()
    gone = await RawBackend(lambda _: json_reply(OK)).start()
    await gone.stop()
    table = RoutingTable(revision=1, stable=backend(1, "stable"))
    app = static_router(table, {"stable": (gone.endpoint, raw.endpoint)})
    try:
        answers = await call(app, *["/v2/models/iris/infer"] * 4)
    finally:
        await raw.stop()
    assert [a.status_code for a in answers] == [200] * 4


async def test_no_table_means_not_ready_and_503() -> None:
    class Never:
        async def run(self, state: object) -> None:
            await asyncio.Event().wait()

    from support.router import router_settings

    router = await RouterInProcess(RouterApp(router_settings(), Never())).start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{router.port}") as client:
            ready = await client.get("/router/ready")
            forwarded = await client.post("/v2/models/iris/infer")
    finally:
        await router.stop()
    assert ready.status_code == 503 and ready.json()["reason"] == "no routing table read yet"
    assert forwarded.status_code == 503

    # A table whose stable Service has no ready pod yet: not ready either, and health is 503.
    table = RoutingTable(revision=1, stable=backend(1, "stable"))
    router = await RouterInProcess(static_router(table, {})).start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{router.port}") as client:
            ready = await client.get("/router/ready")
            health = await client.get("/v2/health/ready")
    finally:
        await router.stop()
    assert ready.status_code == 503
    assert ready.json()["reason"] == "no ready endpoints for stable (stable)"
    assert health.status_code == 503
    assert health.json() == {"error": "stable backend: no ready pods"}


async def test_sigterm_turns_readiness_off_at_once_and_finishes_in_flight_requests() -> None:
    raw = await RawBackend(lambda _: json_reply(OK), delay=0.5).start()
    app = alone(raw, drain_seconds=0.3)
    router = await RouterInProcess(app).start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{router.port}") as client:
            in_flight = asyncio.create_task(client.post("/v2/models/iris/infer"))
            await asyncio.sleep(0.1)
            router.server.terminate()
            assert (await client.get("/router/ready")).status_code == 503
            assert (await client.get("/router/live")).status_code == 200
            assert (await in_flight).status_code == 200
        assert router.task is not None
        await asyncio.wait_for(router.task, 5)  # it stops by itself after the drain
    finally:
        await raw.stop()


def test_the_upstream_client_works_on_uvloop_as_in_production() -> None:
    # uvloop differs from asyncio where the client relies on it: its transports are not
    # asyncio.Transport subclasses, and create_connection returns before connection_made.
    async def scenario() -> list[int]:
        raw = await RawBackend(lambda _: json_reply(OK)).start()
        upstream = Upstream(connect_timeout=1, request_timeout=2)
        head = b"POST /v2/models/iris/infer HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n"
        try:
            statuses = [(await upstream.request(raw.endpoint, head, b"{}")).status]
            statuses.append((await upstream.request(raw.endpoint, head, b"{}")).status)
            for writer in list(raw._writers):  # the backend hangs up on the idle connection
                writer.close()
            await asyncio.sleep(0.05)
            statuses.append((await upstream.request(raw.endpoint, head, b"{}")).status)
            assert upstream.opened == 2
            return statuses
        finally:
            upstream.close()
            await raw.stop()

    assert uvloop.run(scenario()) == [200, 200, 200]


async def test_connections_to_pods_that_left_every_backend_are_closed() -> None:
    first = await RawBackend(lambda _: json_reply(OK)).start()
    second = await RawBackend(lambda _: json_reply(OK)).start()
    app = alone(first)
    router = await RouterInProcess(app).start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{router.port}") as client:
            assert (await client.post("/v2/models/iris/infer")).status_code == 200
            assert len(first._writers) == 1  # one idle keep-alive connection to the first pod
            app.state.set_endpoints("stable", (second.endpoint,))  # the pod was replaced
            for _ in range(20):
                if not first._writers:
                    break
                await asyncio.sleep(0.05)
            assert not first._writers
            answer = await client.post("/v2/models/iris/infer")
            assert answer.status_code == 200 and second.requests == 1
    finally:
        await router.stop()
        await first.stop()
        await second.stop()
