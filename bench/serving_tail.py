"""Benchmark: the inference server's tail, its gRPC service and its engines, in one run.

`.venv/bin/python bench/serving_tail.py` publishes iris models of every kind the trainer offers
(linear, forest, gradient boosting, histogram gradient boosting, SVC, k-NN) to a temporary
catalog and serves each pinned to CPU 0 (`taskset`), with the ONNX path on and off; the load
generators run on CPU 1. For each server it measures, in interleaved rounds (medians):

- saturation, closed loop: `wrk` with 32 connections: req/s, p50, p99;
- half of that peak, open loop: `hey -q` at a fixed total rate: p50, p99 (what a client sees
  when the server is not the bottleneck);
- REST and gRPC side by side through the same Python asyncio client (32 calls in flight, the
  client on CPU 1): req/s, p50, p99. The client, not the server, may be what limits this row;
- 1 worker on CPU 0 against 2 workers on CPUs 0-1 (logistic regression, wrk). On a two-core
  machine wrk shares CPU 1 with the second worker, so this understates what 2 cores give.

Figures are for the note and never asserted in tests; on a shared machine they are noisy.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving import CLIENT_CPU, FEATURES, ROW, Server, free_port, start, stop, wait_ready, wrk
from sklearn.datasets import load_iris

from modelship.catalog import (
    AcceptanceSet,
    AlgorithmInfo,
    DatasetInfo,
    FeatureInfo,
    FeatureProfile,
    Profile,
    StagedVersion,
    TargetInfo,
    open_catalog,
)
from modelship.training.algorithms import build_estimator

KINDS = ["logistic_regression", "random_forest", "gradient_boosting", "hist_gradient_boosting",
         "svc", "knn"]  # fmt: skip


@dataclass
class Row:
    rps: float
    p50_ms: float
    p99_ms: float


def publish_kinds(root: Path) -> dict[str, tuple[int, str]]:
    import numpy as np

    x, y = load_iris(return_X_y=True)
    edges = [np.unique(np.quantile(x[:, i], np.linspace(0, 1, 11))) for i in range(4)]
    profile = Profile(
        features=[
            FeatureProfile(name=f, edges=e.tolist(),
                           frequencies=(np.histogram(x[:, i], e)[0] / len(x)).tolist())
            for i, (f, e) in enumerate(zip(FEATURES, edges, strict=True))
        ]
    )  # fmt: skip
    catalog = open_catalog(str(root))
    published = {}
    for kind in KINDS:
        estimator = build_estimator(kind, {}, "classification", 0).estimator.fit(x, y)
        metadata = catalog.publish(
            "bench",
            kind.replace("_", "-"),
            StagedVersion(
                model=estimator,
                task="classification",
                algorithm=AlgorithmInfo(name=kind),
                dataset=DatasetInfo(uri="builtin:iris", digest="sha256:" + "0" * 64, rows=len(x)),
                features=[FeatureInfo(name=f) for f in FEATURES],
                target=TargetInfo(name="species", classes=[0, 1, 2]),
                acceptance=AcceptanceSet(
                    features=FEATURES, inputs=x[::5].tolist(), targets=y[::5].tolist()
                ),
                profile=profile,
            ),
        )
        published[kind] = (metadata.version, metadata.digest)
    return published


def server_for(
    kind: str, version: int, digest: str, root: Path, onnx: bool, workers: int = 1
) -> tuple[Server, Any]:
    port, grpc_port = free_port(), free_port()
    name = kind.replace("_", "-")
    env = {
        "MODELSHIP_SERVING_MODEL_NAME": name,
        "MODELSHIP_SERVING_NAMESPACE": "bench",
        "MODELSHIP_SERVING_VERSION": str(version),
        "MODELSHIP_SERVING_CATALOG_ROOT": str(root),
        "MODELSHIP_SERVING_EXPECTED_DIGEST": digest,
        "MODELSHIP_SERVING_HOST": "127.0.0.1",
        "MODELSHIP_SERVING_PORT": str(port),
        "MODELSHIP_SERVING_GRPC_PORT": str(grpc_port),
        "MODELSHIP_SERVING_ONNX": json.dumps(onnx),
        "MODELSHIP_SERVING_LOG_LEVEL": "warning",
        "MODELSHIP_SERVING_WORKERS": str(workers),
    }
    label = f"{kind} onnx={'on' if onnx else 'off'}" + (
        f" workers={workers}" if workers > 1 else ""
    )
    base = f"http://127.0.0.1:{port}"
    server = Server(label, [sys.executable, "-m", "modelship.serving"],
                    f"{base}/v2/health/ready", env)  # fmt: skip
    return server, (name, base, f"127.0.0.1:{grpc_port}")


def engine(base: str, name: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{base}/v2/models/{name}", timeout=5) as response:
        return str(json.load(response)["parameters"]["engine"])


def hey(url: str, rate: float, seconds: int, workers: int = 16) -> Row:
    per_worker = max(rate / workers, 1.0)
    output = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, "hey", "-z", f"{seconds}s", "-c", str(workers),
         "-q", f"{per_worker:.1f}", "-m", "POST", "-T", "application/json",
         "-d", json.dumps(ROW), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    def seconds_at(percent: str) -> float:
        found = re.search(rf"{percent}% in ([\d.]+) secs", output)
        return float(found.group(1)) * 1000 if found else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return Row(float(rps.group(1)) if rps else 0.0, seconds_at("50"), seconds_at("99"))


def python_client(target: str, protocol: str, name: str, seconds: int) -> Row:
    """REST or gRPC through one asyncio client with 32 calls in flight, on CPU 1."""
    script = Path(__file__).resolve().parent / "serving_tail_client.py"
    output = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, sys.executable, str(script), protocol, target, name,
         str(seconds)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    figures = json.loads(output)
    return Row(figures["rps"], figures["p50_ms"], figures["p99_ms"])


def median(rows: list[Row]) -> Row:
    return Row(
        *(statistics.median(getattr(r, f) for r in rows) for f in ("rps", "p50_ms", "p99_ms"))
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kinds", nargs="*", default=KINDS)
    args = parser.parse_args()
    for tool in ("wrk", "hey"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install {tool}", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="modelship-bench-tail-"))
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{json.dumps(ROW)}]]\n"
    )
    published = publish_kinds(work / "catalog")
    results: dict[tuple[str, str], list[Row]] = {}
    engines: dict[str, str] = {}
    for kind in args.kinds:
        for onnx in (False, True):
            server, (name, base, grpc_target) = server_for(kind, *published[kind],
                                                           work / "catalog", onnx)  # fmt: skip
            start(server, work)
            try:
                wait_ready(server)
                engines[server.label] = engine(base, name)
                if onnx and engines[server.label] == engines[f"{kind} onnx=off"]:
                    continue  # the ONNX path was refused: the same server as without it
                url = f"{base}/v2/models/{name}/infer"
                target = _target(server, url)
                wrk(target, 2, 32, script)  # warm-up
                for _ in range(args.rounds):
                    peak = wrk(target, args.seconds, 32, script)
                    results.setdefault((server.label, "REST wrk -c32 (saturation)"), []).append(
                        Row(peak.rps, peak.p50_ms, peak.p99_ms)
                    )
                    half = hey(url, peak.rps / 2, args.seconds)
                    results.setdefault((server.label, "REST hey -q (half peak)"), []).append(half)
                    if kind == "logistic_regression" or kind == args.kinds[0]:
                        for protocol, where in (("rest", base), ("grpc", grpc_target)):
                            row = python_client(where, protocol, name, args.seconds)
                            key = (server.label, f"{protocol.upper()} python client -c32")
                            results.setdefault(key, []).append(row)
                print(f"measured {server.label}", file=sys.stderr)
            finally:
                stop(server)
    measure_workers(published, work, script, args, results, engines)
    report(results, engines, args)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def measure_workers(
    published: dict[str, tuple[int, str]],
    work: Path,
    script: Path,
    args: argparse.Namespace,
    results: dict[tuple[str, str], list[Row]],
    engines: dict[str, str],
) -> None:
    kind = "logistic_regression"
    for workers, cpus in ((1, "0"), (2, "0,1")):
        server, (name, base, _) = server_for(
            kind, *published[kind], work / "catalog", True, workers
        )
        server.argv = ["taskset", "-c", cpus, *server.argv]
        start(server, work)  # taskset inside taskset: the inner CPU list wins
        try:
            wait_ready(server)
            time.sleep(3)  # every worker loaded, not just the first to answer
            engines[server.label] = engine(base, name)
            target = _target(server, f"{base}/v2/models/{name}/infer")
            wrk(target, 2, 32, script)
            for _ in range(args.rounds):
                peak = wrk(target, args.seconds, 32, script)
                results.setdefault(
                    (server.label, f"REST wrk -c32, {workers} worker(s)"), []
                ).append(Row(peak.rps, peak.p50_ms, peak.p99_ms))
        finally:
            stop(server)
    print("measured workers", file=sys.stderr)


def _target(server: Server, url: str) -> Any:
    from serving import Target

    return Target(server.label, "", url, server)


def report(
    results: dict[tuple[str, str], list[Row]], engines: dict[str, str], args: argparse.Namespace
) -> None:
    print(f"\n{args.rounds} rounds x {args.seconds}s; server on CPU 0, clients on CPU {CLIENT_CPU};"
          " medians.\n")  # fmt: skip
    print("| model, ONNX path | engine | load | req/s | p50 ms | p99 ms | p99/p50 |")
    print("|---|---|---|---:|---:|---:|---:|")
    medians = {key: median(rows) for key, rows in results.items()}
    for (label, load), row in medians.items():
        print(f"| {label} | {engines[label]} | {load} | {row.rps:.0f} | {row.p50_ms:.2f} | "
              f"{row.p99_ms:.2f} | {row.p99_ms / row.p50_ms:.1f} |")  # fmt: skip
    print()
    for kind in args.kinds:
        off = medians.get((f"{kind} onnx=off", "REST wrk -c32 (saturation)"))
        on = medians.get((f"{kind} onnx=on", "REST wrk -c32 (saturation)"))
        if off and on:
            print(f"{kind}: ONNX path / scikit-learn = {on.rps / off.rps:.2f}x req/s")
        elif off:
            print(f"{kind}: served by {engines[f'{kind} onnx=off']}; the ONNX path is not used")
    one = medians.get(("logistic_regression onnx=on", "REST wrk -c32, 1 worker(s)"))
    two = medians.get(("logistic_regression onnx=on workers=2", "REST wrk -c32, 2 worker(s)"))
    if one and two:
        print(f"2 workers on 2 CPUs / 1 worker on 1 CPU = {two.rps / one.rps:.2f}x req/s "
              "(wrk shares CPU 1 with the second worker)")  # fmt: skip
    for label in {label for label, _ in medians}:
        rest = medians.get((label, "REST python client -c32"))
        grpc = medians.get((label, "GRPC python client -c32"))
        if rest and grpc:
            print(f"{label}: gRPC / REST through the same client = {grpc.rps / rest.rps:.2f}x")


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"(benchmark took {time.monotonic() - started:.0f}s)", file=sys.stderr)
    sys.exit(code)
