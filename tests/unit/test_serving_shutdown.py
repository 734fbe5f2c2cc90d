"""SIGTERM on a real `python -m modelship.serving` process: readiness turns 503 at once, requests
that arrive during the drain are answered, and a request already in flight when the server stops
listening still gets its answer before the process exits cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from modelship.operator.deployment.builders.stages import build_stage_deployment
from modelship.serving import ServingSettings
from modelship.serving.draining import DrainingServer
from support.deployments import DIGESTS, SETTINGS, body
from support.serving import ServerProcess, iris_server
from support.waiting import wait_for

DRAIN_SECONDS = 3


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with iris_server(tmp_path, drain_seconds=str(DRAIN_SECONDS)) as server:
        yield server


def refuses_connections(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return True
    return False


INFER_BODY = json.dumps(
    {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 4], "data": [5.9, 3, 5.1, 1.8]}]}
).encode()


def test_sigterm_drains_then_finishes_in_flight_requests(server: ServerProcess) -> None:
    process, host, port, log = server.process, server.host, server.port, server.log

    # A request in flight: headers and half the body sent, the rest comes after SIGTERM.
    in_flight = socket.create_connection((host, port), timeout=30)
    half = len(INFER_BODY) // 2
    in_flight.sendall(
        b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(INFER_BODY)}\r\n\r\n".encode()
        + INFER_BODY[:half]
    )

    process.send_signal(signal.SIGTERM)
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=5) as client:
        readiness = wait_for(
            lambda: (lambda r: r if r.status_code == 503 else None)(client.get("/v2/health/ready")),
            timeout=1,
            interval=0.05,
            what="readiness 503",
        )
        assert readiness.json() == {"ready": False, "reason": "shutting down"}
        # Still answering what a stale endpoint list sends here during the drain.
        answer = client.post("/v2/models/iris/infer", content=INFER_BODY)
        assert answer.status_code == 200 and answer.json()["outputs"][0]["data"] == [2]
        assert client.get("/v2/health/live").status_code == 200

    wait_for(lambda: refuses_connections(host, port), timeout=DRAIN_SECONDS + 10, interval=0.1,
             what="the listener closed after the drain")  # fmt: skip
    assert process.poll() is None  # still waiting for the in-flight request

    in_flight.sendall(INFER_BODY[half:])
    response = b""
    while chunk := in_flight.recv(65536):
        response += chunk  # the server closes the connection after answering: it is shutting down
    in_flight.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), response
    assert json.loads(body)["outputs"][0]["data"] == [2]
    assert process.wait(timeout=15) == 0, log.read_text()


def test_the_stage_pods_prestop_drain_and_grace_fit_their_termination_grace_period() -> None:
    """The operator's preStop and grace period leave room for the server's own drain and grace
    (the two sides are separate processes; this is where they meet)."""
    deployment = build_stage_deployment(body(), "production", 1, DIGESTS[1], 2, None, SETTINGS)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    defaults = ServingSettings(model_name="m", version=1, catalog_root="/catalog")
    needed = float(command[1]) + defaults.drain_seconds + defaults.shutdown_grace_seconds
    assert needed < pod["terminationGracePeriodSeconds"]


def test_the_sigterm_handler_takes_no_lock_the_interrupted_thread_may_hold() -> None:
    """SIGTERM runs its handler in the middle of whatever the loop's thread was doing, possibly
    inside a metric write holding prometheus_client's lock. Draining must wait for the loop's
    next tick: a handler that took that lock would wait for itself, and the pod would hang until
    the kubelet killed it, losing what was buffered."""
    held = threading.Lock()  # what the interrupted metric write holds
    drained: list[bool] = []

    def on_drain() -> None:
        if not held.acquire(timeout=0.5):
            raise AssertionError("draining waited for a lock held by the interrupted thread")
        held.release()
        drained.append(True)

    server = DrainingServer(uvicorn.Config(app=None), on_drain=on_drain, drain_seconds=0)
    with held:
        server.handle_exit(signal.SIGTERM, None)
    assert drained == [] and not server.should_exit

    assert asyncio.run(server.on_tick(1)) is True  # the next tick drains, then stops (no delay)
    assert drained == [True] and server.should_exit
    asyncio.run(server.on_tick(2))
    assert drained == [True]  # once
