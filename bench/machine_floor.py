"""What the machine itself does to a latency measurement, measured in the same run.

A tail-latency goal in milliseconds means nothing on a machine whose CPUs stop for milliseconds.
Two figures put a server's tail in proportion:

- pauses: a busy loop pinned to one CPU reads the clock as fast as it can; any gap between two
  reads longer than 50 µs is time the CPU was taken away (by the hypervisor, an interrupt, another
  process). On a virtual machine these are mostly steal time, and a request in flight during one
  of them waits for it, whatever the server does.
- a constant answer: the router's own HTTP front end (bench/router.py --serve-floor), answering
  a fixed body without reading it, pinned where the inference server runs and driven by the same
  open-loop generator at the same rate. Its p50/p99 is the latency of the path (generator, two
  CPUs waking each other, loopback TCP) with no serving work at all.

`python bench/machine_floor.py [--seconds 10]` prints both for CPUs 0 and 1; serving.py
reports them beside the open-loop goal.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from serving_load import Sample, open_loop
from serving_servers import SERVER_CPU, Server, free_port, start, stop, wait_ready

HERE = Path(__file__).resolve().parent
GAP_SECONDS = 50e-6


@dataclass
class Pauses:
    cpu: str
    seconds: float
    count: int  # gaps longer than GAP_SECONDS
    paused_share: float  # of the wall time
    over_1ms: int
    over_2ms: int
    longest_ms: float

    def line(self) -> str:
        return (
            f"CPU {self.cpu}: a busy loop was paused {self.paused_share:.1%} of "
            f"{self.seconds:.0f}s "
            f"({self.count} pauses > 50 µs, {self.over_1ms} > 1 ms, {self.over_2ms} > 2 ms, "
            f"longest {self.longest_ms:.1f} ms)"
        )


def probe(seconds: float) -> dict[str, float]:
    """The busy loop itself (runs in the pinned child)."""
    clock = time.perf_counter
    gaps: list[float] = []
    last = clock()
    end = last + seconds
    while last < end:
        now = clock()
        if now - last > GAP_SECONDS:
            gaps.append(now - last)
        last = now
    return {
        "count": len(gaps),
        "paused": sum(gaps),
        "over_1ms": sum(g > 1e-3 for g in gaps),
        "over_2ms": sum(g > 2e-3 for g in gaps),
        "longest": max(gaps, default=0.0),
    }


def pauses(cpu: str, seconds: float) -> Pauses:
    output = subprocess.run(
        ["taskset", "-c", cpu, sys.executable, str(Path(__file__).resolve()), "--probe",
         str(seconds)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    figures = json.loads(output)
    return Pauses(
        cpu,
        seconds,
        int(figures["count"]),
        figures["paused"] / seconds,
        int(figures["over_1ms"]),
        int(figures["over_2ms"]),
        figures["longest"] * 1000,
    )


def constant_server(cpus: str = SERVER_CPU) -> tuple[Server, str]:
    """The router's front end answering a constant, and a URL to POST to."""
    port = free_port()
    argv = [sys.executable, str(HERE / "router.py"), "--serve-floor", str(port)]
    server = Server("constant answer", argv, f"http://127.0.0.1:{port}/router/ready", cpus=cpus)
    return server, f"http://127.0.0.1:{port}/v2/models/constant/infer"


def constant_answers(
    rate: float, seconds: int, rounds: int, body: Path, work: Path
) -> list[Sample]:
    server, url = constant_server()
    start(server, work)
    try:
        wait_ready(server)
        open_loop(server, url, rate, 1, body)  # connections and caches warm
        return [open_loop(server, url, rate, seconds, body) for _ in range(rounds)]
    finally:
        stop(server)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=2000, help="open-loop rate, requests/s")
    parser.add_argument("--probe", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe)))
        return 0
    for cpu in ("0", "1"):
        print(pauses(cpu, args.seconds).line())
    import tempfile

    from serving_load import ROW

    work = Path(tempfile.mkdtemp(prefix="modelship-floor-"))
    body = work / "body.json"
    body.write_text(json.dumps(ROW))
    for sample in constant_answers(args.rate, int(args.seconds), 3, body, work):
        print(
            f"constant answer on CPU {SERVER_CPU}, open loop {args.rate:.0f}/s: "
            f"p50 {sample.p50_ms:.2f} ms, p99 {sample.p99_ms:.2f} ms, "
            f"generator lag p99 {sample.lag_p99_ms:.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
