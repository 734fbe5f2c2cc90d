"""An open-loop load generator (REST or gRPC): requests leave on a fixed schedule, whatever the
answers do.

`python bench/open_loop.py URL --rate 3000 --seconds 8 --body body.json` (or `HOST:PORT
--grpc-model NAME ...` for the Open Inference Protocol's gRPC ModelInfer) prints one JSON line:
the rate achieved, latency percentiles measured from each request's *scheduled* send time (so a
slow answer that holds a connection, and delays what queues behind it, is counted in full: no
coordinated omission), the same percentiles from the moment the bytes were actually written, and
how late the generator itself was in sending ("send lag").

Why not `hey -q`: its rate is per worker, each worker is a closed loop that waits for its answer
before its next tick (a slow answer delays the following requests instead of being measured by
them), and its Go HTTP client on a shared core adds its own scheduling delays to what it reports.
wrk2 (wrk with a constant rate) is not packaged for Debian. This one sends from one thread and
receives in another (see `run_rest`); its own lateness is reported, never hidden.
"""

from __future__ import annotations

import argparse
import json
import re
import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

_CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)")


@dataclass
class Connection:
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    scheduled: float = 0.0
    sent: float = 0.0


def request_bytes(url: str, body: bytes) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return host, port, head.encode() + body


def response_length(buffer: bytearray) -> tuple[int, int] | None:
    """(status, total bytes of the first response in buffer) once its head is complete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    length = _CONTENT_LENGTH.search(head)
    if length is None:
        raise RuntimeError("response without content-length")
    return int(head[9:12]), end + 4 + int(length.group(1))


@dataclass
class Record:
    """What one run measured: seconds from schedule to answer, from write to answer, and from
    schedule to write (the generator's lateness, plus any wait for a free connection)."""

    latency: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    errors: int = 0
    unanswered: int = 0

    def summary(self, rate: float, elapsed: float) -> dict[str, float]:
        return {
            "rate": rate,
            "rps": len(self.latency) / elapsed,
            "requests": len(self.latency),
            "errors": self.errors + self.unanswered,
            "unanswered": self.unanswered,
            **_percentiles("", self.latency),
            **_percentiles("service_", self.service),
            **_percentiles("lag_", self.lag),
        }


def schedule(rate: float, total: int, send: Callable[[float], None]) -> float:
    """Call `send(scheduled_time)` `total` times at `rate`/s; return the start time.

    time.sleep is clock_nanosleep: microsecond precision, where poll timeouts (what an event
    loop's timers come down to) are whole milliseconds and would add up to one to each request.
    """
    started = time.perf_counter()
    for index in range(total):
        scheduled = started + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(scheduled)
    return started


def run_rest(
    url: str, body: bytes, rate: float, seconds: float, connections: int
) -> dict[str, float]:
    """Send `rate * seconds` requests on schedule over `connections` keep-alive connections.

    This thread sends: at each request's time it writes the request on an idle connection, or
    queues it when all are busy. A second thread blocks in epoll, timestamps each answer the
    moment it is complete, and hands its connection the oldest queued request. Both spend
    nearly all their time blocked, so the generator's own lateness stays in the tens of
    microseconds on an otherwise quiet core.
    """
    host, port, request = request_bytes(url, body)
    poller = select.epoll()
    pool: dict[int, Connection] = {}
    for _ in range(connections):
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pool[sock.fileno()] = Connection(sock)
        poller.register(sock.fileno(), select.EPOLLIN)
    lock = threading.Lock()
    idle: deque[Connection] = deque(pool.values())
    waiting: deque[float] = deque()  # scheduled times of requests with no free connection yet
    total = int(rate * seconds)
    record = Record()

    def write(connection: Connection, scheduled: float) -> None:
        connection.scheduled, connection.sent = scheduled, time.perf_counter()
        record.lag.append(connection.sent - scheduled)
        connection.sock.sendall(request)

    def send(scheduled: float) -> None:
        with lock:
            connection = idle.popleft() if idle else None
            if connection is None:
                waiting.append(scheduled)
        if connection is not None:
            write(connection, scheduled)

    def receive() -> None:
        # An overloaded server would keep a backlog draining for long after the schedule ends:
        # give up a few seconds after it, and report what was never answered.
        deadline = time.perf_counter() + seconds * 1.5 + 5
        while len(record.latency) < total and time.perf_counter() < deadline:
            for fd, _ in poller.poll(0.1):
                connection = pool[fd]
                chunk = connection.sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the server closed a connection")
                connection.buffer += chunk
                parsed = response_length(connection.buffer)
                if parsed is None or len(connection.buffer) < parsed[1]:
                    continue
                done = time.perf_counter()
                status, size = parsed
                del connection.buffer[:size]
                record.errors += status != 200
                record.latency.append(done - connection.scheduled)
                record.service.append(done - connection.sent)
                with lock:
                    queued = waiting.popleft() if waiting else None
                    if queued is None:
                        idle.append(connection)
                if queued is not None:
                    write(connection, queued)

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    started = schedule(rate, total, send)
    receiver.join()
    elapsed = time.perf_counter() - started
    record.unanswered = total - len(record.latency)
    for connection in pool.values():
        connection.sock.close()
    return record.summary(rate, elapsed)


def run_grpc(target: str, model: str, body: bytes, rate: float, seconds: float) -> dict[str, float]:
    """The same schedule over one gRPC channel: calls are multiplexed, none waits for another,
    and gRPC's own threads complete them (the callback timestamps the answer)."""
    import grpc

    from modelship.serving.protocol import inference_pb2 as pb
    from modelship.serving.protocol import inference_pb2_grpc as pb_grpc

    tensor = json.loads(body)["inputs"][0]
    request = pb.ModelInferRequest(model_name=model)
    request.inputs.add(name=tensor["name"], datatype="FP64", shape=tensor["shape"])
    request.raw_input_contents.append(np.asarray(tensor["data"], dtype="<f8").tobytes())
    total = int(rate * seconds)
    record = Record()
    done = threading.Semaphore(0)
    with grpc.insecure_channel(target) as channel:
        call = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer
        call(request)  # connected before the clock starts

        def send(scheduled: float) -> None:
            sent = time.perf_counter()
            record.lag.append(sent - scheduled)

            def answered(future: grpc.Future) -> None:
                finished = time.perf_counter()
                record.errors += future.exception() is not None
                record.latency.append(finished - scheduled)
                record.service.append(finished - sent)
                done.release()

            call.future(request).add_done_callback(answered)

        started = schedule(rate, total, send)
        deadline = started + seconds * 1.5 + 5
        for _ in range(total):
            if not done.acquire(timeout=max(deadline - time.perf_counter(), 0.001)):
                break
        elapsed = time.perf_counter() - started
        record.unanswered = total - len(record.latency)
        return record.summary(rate, elapsed)


def _percentiles(prefix: str, seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {
        f"{prefix}p50_ms": float(np.percentile(ms, 50)),
        f"{prefix}p99_ms": float(np.percentile(ms, 99)),
        f"{prefix}max_ms": float(ms.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("target", help="the infer URL, or host:port with --grpc-model")
    parser.add_argument("--rate", type=float, required=True, help="requests per second, in total")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=32, help="REST keep-alive connections")
    parser.add_argument("--grpc-model", help="send gRPC ModelInfer calls for this model")
    parser.add_argument("--body", required=True, help="file holding the JSON body")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds sent first, unmeasured")
    args = parser.parse_args()
    with open(args.body, "rb") as handle:
        body = handle.read()

    def run(seconds: float) -> dict[str, float]:
        if args.grpc_model:
            return run_grpc(args.target, args.grpc_model, body, args.rate, seconds)
        return run_rest(args.target, body, args.rate, seconds, args.connections)

    warm_up = run(args.warmup)["requests"] if args.warmup > 0 else 0
    figures = run(args.seconds)
    figures["all_requests"] = figures["requests"] + warm_up
    print(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(main())
