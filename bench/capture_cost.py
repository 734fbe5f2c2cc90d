"""What capturing predictions costs the inference server: CPU per request, capture off vs on.

    .venv/bin/python bench/capture_cost.py [--seconds 5] [--rounds 3] [--rate 1.0]

Logistic regression on iris (the cheapest model, so capture's share is the largest it gets),
one row per request, our server on CPU 0 and `wrk` (32 connections) on CPU 1, as in
bench/serving.py. Rounds alternate capture off and capture at `--rate` into a directory store
(the writer thread's gzip and file writes included: the server's CPU is read from /proc for the
whole process tree). Reported: req/s and server CPU-µs per request, medians over rounds, and the
ratio on/off. Figures are for the notes, never asserted in tests; the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import serving_load as load
import serving_servers as servers
from serving_load import ROW

from modelship.catalog.segments import DirectorySegmentStore, segments


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelship-capture-bench-"))
    model = servers.publish(work, ["logistic_regression"])["logistic_regression"]
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{json.dumps(ROW)}]]\n"
    )
    store = work / "captures"
    results: dict[str, list[load.Sample]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            server, base, _ = servers.modelship(model, work)
            if mode == "on":
                capture = {"sample_rate": args.rate, "store": store.as_uri(), "flush_seconds": 1}
                server.env["MODELSHIP_SERVING_CAPTURE"] = json.dumps(capture)
            servers.start(server, work)
            try:
                servers.wait_ready(server)
                url = f"{base}/v2/models/{model.name}/infer"
                load.wrk(server, url, 1, script)  # warm-up
                results[mode].append(load.wrk(server, url, args.seconds, script))
            finally:
                servers.stop(server)
    rows = sum(len(r) for _, r in segments(DirectorySegmentStore(store), "captures"))
    for mode, samples in results.items():
        rps = statistics.median(s.rps for s in samples)
        cpu = statistics.median(s.cpu_us for s in samples)
        spread = max(s.cpu_us for s in samples) - min(s.cpu_us for s in samples)
        print(f"capture {mode:3}: {rps:8.0f} req/s  {cpu:6.1f} CPU-µs/request", end="")
        print(f" (spread {spread:.1f})")
    off = statistics.median(s.cpu_us for s in results["off"])
    on = statistics.median(s.cpu_us for s in results["on"])
    print(f"capture at {args.rate:.0%}: {on / off - 1:+.1%} CPU per request; {rows} rows written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
