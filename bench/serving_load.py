"""The load the serving benchmark applies, each generator pinned to the client CPU.

- saturation, closed loop: `wrk` with 32 connections (REST), or closed_loop.py with 32 calls in
  flight (REST and gRPC through the same Python client, so the two protocols are compared
  through one client; that client, not the server, may be what limits those rows);
- a fixed rate, open loop: open_loop.py (REST or gRPC), latency from each request's scheduled
  send time; `hey -q` beside it for comparison, because its figures were the earlier ones.

While a generator runs, the server's CPU time is read from /proc over its process tree, so each
sample carries CPU-µs per request (what a core-second buys, whatever the client costs).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from serving_servers import CLIENT_CPU, HERE, Server, cpu_seconds, rss_mb, tree

ROW = {
    "inputs": [
        {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [5.9, 3.0, 5.1, 1.8]}
    ]
}


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float = float("nan")
    rss_mb: float = float("nan")
    errors: float = 0
    lag_p99_ms: float = float("nan")  # open loop only: how late the generator itself sent
    requests: float = 0  # every request the server answered during the run, warm-up included


def measured(server: Server, run: Callable[[], Sample]) -> Sample:
    """Run a generator and add the server's CPU time per request over that run."""
    assert server.process is not None
    pids = tree(server.process.pid)
    before = cpu_seconds(pids)
    sample = run()
    sample.cpu_us = (cpu_seconds(pids) - before) / max(sample.requests, 1) * 1e6
    sample.rss_mb = rss_mb(pids)
    return sample


def wrk(server: Server, url: str, seconds: int, script: Path, connections: int = 32) -> Sample:
    def run() -> Sample:
        output = subprocess.run(
            ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
             "--latency", "-s", str(script), url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        timeouts = re.search(r"timeout (\d+)", output)
        return Sample(
            rps=float(_find(r"Requests/sec:\s+([\d.]+)", output)),
            requests=float(_find(r"(\d+) requests in", output)),
            p50_ms=_ms(_find(r"50%\s+([\d.]+\w+)", output)),
            p99_ms=_ms(_find(r"99%\s+([\d.]+\w+)", output)),
            errors=(int(errors.group(1)) if errors else 0)
            + (int(timeouts.group(1)) if timeouts else 0),
        )

    return measured(server, run)


def open_loop(
    server: Server, target: str, rate: float, seconds: int, body: Path, grpc_model: str = ""
) -> Sample:
    """REST (target is a URL) or, with grpc_model, gRPC (target is host:port) at `rate`/s."""

    def run() -> Sample:
        argv = [sys.executable, str(HERE / "open_loop.py"), target, "--rate", f"{rate:.1f}",
                "--seconds", str(seconds), "--body", str(body)]  # fmt: skip
        if grpc_model:
            argv += ["--grpc-model", grpc_model]
        output = subprocess.run(
            ["taskset", "-c", CLIENT_CPU, *argv], capture_output=True, text=True, check=True
        ).stdout
        figures = json.loads(output)
        return Sample(figures["rps"], figures["p50_ms"], figures["p99_ms"],
                      errors=figures["errors"], lag_p99_ms=figures["lag_p99_ms"],
                      requests=figures["all_requests"])  # fmt: skip

    return measured(server, run)


def hey(server: Server, url: str, rate: float, seconds: int, workers: int = 16) -> Sample:
    """`hey -q` is a rate per worker: the total rate is split over `workers`."""

    def run() -> Sample:
        output = subprocess.run(
            ["taskset", "-c", CLIENT_CPU, "hey", "-z", f"{seconds}s", "-c", str(workers),
             "-q", f"{max(rate / workers, 1.0):.1f}", "-m", "POST", "-T", "application/json",
             "-d", json.dumps(ROW), url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

        def at(percent: str) -> float:
            found = re.search(rf"{percent}% in ([\d.]+) secs", output)
            return float(found.group(1)) * 1000 if found else float("nan")

        rps = float(_find(r"Requests/sec:\s+([\d.]+)", output))
        return Sample(rps, at("50"), at("99"), requests=rps * seconds)

    return measured(server, run)


def closed_loop(server: Server, protocol: str, target: str, model: str, seconds: int) -> Sample:
    """REST or gRPC through closed_loop.py: 32 calls in flight from one asyncio client."""

    def run() -> Sample:
        output = subprocess.run(
            ["taskset", "-c", CLIENT_CPU, sys.executable, str(HERE / "closed_loop.py"), protocol,
             target, model, str(seconds)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        figures = json.loads(output)
        return Sample(figures["rps"], figures["p50_ms"], figures["p99_ms"],
                      requests=figures["all_requests"])  # fmt: skip

    return measured(server, run)


def _find(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"{pattern!r} not in the generator's output:\n{text}")
    return found.group(1)


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]
