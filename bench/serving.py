"""The serving benchmark, one command: our inference server beside MLServer and a minimal FastAPI
endpoint, serving the same fitted models, measured in one run.

    .venv/bin/python bench/serving.py [--mlserver /tmp/mlserver-venv] [--seconds 6] [--rounds 3]

It publishes every classification kind the trainer offers (iris) and exports the same fitted
estimators as joblib files for MLServer and the minimal endpoint (serving_servers.py); XGBoost
and LightGBM go to MLServer in their own formats, for its own XGBoost and LightGBM runtimes. Servers
run pinned to CPU 0 and load generators to CPU 1 (serving_load.py), in interleaved rounds whose
medians are reported, with the spread across rounds as the noise:

1. every model kind on one core: saturation (`wrk`, 32 connections: req/s, p50, p99, server
   CPU-µs per request), then an open-loop run at half of that server's own peak rate
   (open_loop.py: p50, p99 from each request's scheduled time), and for logistic regression
   `hey -q` at the same rate beside it; our server with its ONNX path on and, where that changes
   the engine, off; MLServer's scikit-learn runtime (adaptive batching on as well for the forest);
2. REST and gRPC for logistic regression, ours and MLServer's, through the same Python client
   (closed_loop.py, 32 calls in flight; for ours also NVIDIA Triton's gRPC client) and open loop
   at half of that peak; the gRPC / REST ratio of server CPU per request is printed; ours on
   both gRPC transports (our h2, the default, and grpcio's, the fallback);
3. 1 and 2 workers (ours: WORKERS; MLServer: parallel_workers) on 1 and 2 CPUs, and one worker
   of ours with the workers' multiprocess metrics and shared drift but no second worker. On a
   two-core machine the load generator shares CPU 1 with the second worker, so req/s
   understates what two cores give; server CPU-µs per request is what scales, and is reported
   at saturation and at one fixed rate that every configuration sustains (`--worker-rate`).

`--sections protocol workers` runs only those sections (logistic regression only).

MLServer is not a dependency of this project: install it in its own virtualenv, e.g.
`python3 -m venv /tmp/mlserver-venv && /tmp/mlserver-venv/bin/pip install mlserver==1.7.1
mlserver-sklearn==1.7.1 mlserver-lightgbm==1.7.1 xgboost-cpu==3.2.0 'uvloop<0.22' httptools &&
/tmp/mlserver-venv/bin/pip install --no-deps mlserver-xgboost==1.7.1` (without --no-deps it pulls
the `xgboost` wheel, whose Linux build is the CUDA one with nvidia-nccl-cu12), and pass
`--mlserver` (the venv or its `mlserver` executable), or `--no-mlserver` to run without it.
Figures are for the notes, never asserted in tests; on a shared machine they are noisy (see the
spread column).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import machine_floor as floor
import serving_load as load
import serving_servers as servers
from serving_load import ROW, Sample
from serving_report import report
from serving_servers import KINDS, Published, Server

SECTIONS = ("kinds", "protocol", "workers")
BAD_SHAPE = {
    "inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": [5.9, 3.0, 5.1]}]
}


@dataclass
class Target:
    section: str  # "kinds", "protocol" or "workers"
    kind: str
    label: str
    server: Server
    url: str  # REST infer URL
    grpc: tuple[str, str] | None = None  # (host:port, model name): the protocol rows
    hey: bool = False
    engine: str = ""
    bad_shape: int = 0  # the status a row of 3 features gets from a 4-feature model


Results = dict[tuple[str, str, str, str], list[Sample]]  # (section, kind, label, load) -> rounds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=6, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--kinds", nargs="+", default=KINDS, choices=KINDS)
    parser.add_argument(
        "--mlserver",
        type=Path,
        default=Path("/tmp/mlserver-venv"),
        help="MLServer's virtualenv, or its mlserver executable",
    )
    parser.add_argument("--no-mlserver", action="store_true", help="leave MLServer out")
    parser.add_argument("--no-workers", action="store_true", help="skip section 3")
    parser.add_argument(
        "--sections",
        nargs="+",
        default=list(SECTIONS),
        choices=SECTIONS,
        help="which sections to run (default all)",
    )
    parser.add_argument(
        "--worker-rate",
        type=float,
        default=2000.0,
        help="section 3's fixed open-loop rate (req/s), the same for every configuration",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of the servers and generators (inherited from this process); on a "
        "machine shared with other work, e.g. -10 (root) stands for the core a pod would own",
    )
    args = parser.parse_args()
    if args.no_workers:
        args.sections = [s for s in args.sections if s != "workers"]
    if "kinds" not in args.sections:
        args.kinds = ["logistic_regression"]
    if args.nice:
        os.nice(args.nice)
    for tool in ("wrk", "hey", "taskset"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing (Debian: apt-get install {tool})", file=sys.stderr)
            return 2
    executable = None if args.no_mlserver else servers.find_mlserver(args.mlserver)
    if executable is None and not args.no_mlserver:
        print(
            f"MLServer not found at {args.mlserver} (neither an executable nor a virtualenv with "
            "bin/mlserver). Install it apart from this project: python3 -m venv /tmp/mlserver-venv"
            " && /tmp/mlserver-venv/bin/pip install mlserver==1.7.1 mlserver-sklearn==1.7.1 "
            "'uvloop<0.22' httptools; then pass --mlserver PATH, or --no-mlserver.",
            file=sys.stderr,
        )
        return 2

    work = Path(tempfile.mkdtemp(prefix="modelship-bench-"))
    published = servers.publish(work, args.kinds)
    (work / "body.json").write_text(json.dumps(ROW))
    (work / "post.lua").write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{json.dumps(ROW)}]]\n"
    )
    results: Results = {}
    notes = [f"niceness {os.nice(0)}; load average at start: {_loadavg()}"]
    notes += [f"at start, {floor.pauses(cpu, 5).line()}" for cpu in ("0", "1")]
    one_core = single_core_targets(published, work, executable, args.sections)
    if one_core:
        run_phase(one_core, work, args, results)
    half = results.get(("kinds", "logistic_regression", "modelship", "half peak"))
    if half:
        # The same path with no serving work, at the rate the goal is judged at.
        rate = statistics.median(s.rps for s in half)
        results[("floor", "logistic_regression", "constant answer", "half peak")] = (
            floor.constant_answers(rate, args.seconds, args.rounds, work / "body.json", work)
        )
    notes.append(f"load average after sections 1-2: {_loadavg()}")
    if "workers" in args.sections and "logistic_regression" in published:
        run_phase(
            worker_targets(published["logistic_regression"], work, executable), work, args, results
        )
        notes.append(f"load average after section 3: {_loadavg()}")
    notes += [f"at the end, {floor.pauses(cpu, 5).line()}" for cpu in ("0", "1")]
    if executable is None:
        notes.append("MLServer left out (--no-mlserver).")
    facts = {(t.kind, t.label): f"{t.engine} | {t.bad_shape}" for t in one_core if t.url}
    report(results, facts, args, notes)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def single_core_targets(
    published: dict[str, Published], work: Path, executable: Path | None, sections: list[str]
) -> list[Target]:
    targets = _single_core_targets(published, work, executable)
    return [t for t in targets if t.section in sections]


def _single_core_targets(
    published: dict[str, Published], work: Path, executable: Path | None
) -> list[Target]:
    targets = []
    for kind, model in published.items():
        for onnx in (True, False):
            server, base, grpc = servers.modelship(model, work, onnx=onnx)
            label = "modelship" if onnx else "modelship, ONNX off"
            targets.append(
                Target(
                    "kinds",
                    kind,
                    label,
                    server,
                    f"{base}/v2/models/{model.name}/infer",
                    hey=kind == "logistic_regression",
                )
            )
            if kind == "logistic_regression" and onnx:
                targets.append(
                    Target("protocol", kind, "modelship", server, "", (grpc, model.name))
                )
                # The same server on grpcio's transport (the fallback), for the gRPC gap it had.
                other, _, grpcio = servers.modelship(model, work, grpc_transport="grpcio")
                targets.append(
                    Target("protocol", kind, "modelship, grpcio", other, "", (grpcio, model.name))
                )
    floor = [published[k] for k in ("logistic_regression", "random_forest") if k in published]
    if floor:
        server, base = servers.minimal(floor)
        for model in floor:
            targets.append(
                Target(
                    "kinds",
                    model.kind,
                    server.label,
                    server,
                    f"{base}/v2/models/{model.name}/infer",
                    hey=model.kind == "logistic_regression",
                )
            )
    if executable is not None:
        models = list(published.values())
        server, base, grpc = servers.mlserver(
            work / "mlserver-w0", executable, models, batching={"random_forest"}
        )
        for model in models:
            names = [model.name] + (
                [f"{model.name}-batch"] if model.kind == "random_forest" else []
            )
            for name in names:
                label = f"{server.label}" + (" batching" if name.endswith("-batch") else "")
                targets.append(
                    Target("kinds", model.kind, label, server, f"{base}/v2/models/{name}/infer")
                )
            if model.kind == "logistic_regression":
                targets.append(
                    Target("protocol", model.kind, "MLServer w0", server, "", (grpc, model.name))
                )
    return targets


def worker_targets(model: Published, work: Path, executable: Path | None) -> list[Target]:
    targets = []
    # 2 workers on CPU 0 alone: the same CPU budget as 1 worker, so any change in CPU per
    # request is the cost of running as workers (shared metrics files, drift publishing).
    for workers, cpus, shared in ((1, "0", False), (1, "0", True), (2, "0", False),
                                  (2, "0,1", False)):  # fmt: skip
        server, base, _ = servers.modelship(
            model, work, workers=workers, cpus=cpus, shared_metrics=shared
        )
        server.label = f"modelship, {workers} worker(s), CPUs {cpus}" + (
            ", multiprocess metrics" if shared else ""
        )
        targets.append(
            Target(
                "workers", model.kind, server.label, server, f"{base}/v2/models/{model.name}/infer"
            )
        )
        # MLServer beside ours where it has the same setup: 1 worker, and 2 on two CPUs.
        if executable is not None and not shared and (workers, cpus) != (2, "0"):
            ml, base, _ = servers.mlserver(
                work / f"mlserver-pw{workers}",
                executable,
                [model],
                batching=set(),
                workers=workers,
                cpus=cpus,
            )
            ml.label = f"MLServer parallel_workers={workers}, CPUs {cpus}"
            targets.append(
                Target("workers", model.kind, ml.label, ml, f"{base}/v2/models/{model.name}/infer")
            )
    return targets


def run_phase(
    targets: list[Target], work: Path, args: argparse.Namespace, results: Results
) -> None:
    started = list({id(t.server): t.server for t in targets}.values())
    try:
        for server in started:
            servers.start(server, work)
        for server in started:
            servers.wait_ready(server)
        time.sleep(3)  # every worker of a multi-worker server loaded, not just the first
        targets[:] = prepare(targets)
        for round_number in range(args.rounds):
            order = targets if round_number % 2 == 0 else targets[::-1]
            for target in order:
                measure(target, work, args.seconds, results, args.worker_rate)
            print(f"round {round_number + 1} of {args.rounds} done", file=sys.stderr)
    finally:
        for server in started:
            servers.stop(server)


def prepare(targets: list[Target]) -> list[Target]:
    """Engines read, duplicates dropped (ONNX off where it changes nothing), every REST target
    checked to answer a good row with 200, and what it answers a row of the wrong shape."""
    kept = []
    for target in targets:
        if target.label.startswith("modelship") and target.url:
            target.engine = servers.get_json(target.url.removesuffix("/infer"))["parameters"][
                "engine"
            ]
            if target.label == "modelship, ONNX off":
                twin = next(t for t in kept if t.kind == target.kind and t.label == "modelship")
                if twin.engine == target.engine:
                    continue
        elif target.url:
            runtime = servers.MLSERVER_RUNTIMES.get(target.kind, "sklearn").split(".")[0]
            target.engine = runtime if target.label.startswith("MLServer") else "sklearn (naive)"
        if target.url:
            good = servers.post(target.url, ROW)
            if good != 200:
                raise RuntimeError(f"{target.label} {target.kind}: {good} for a good row")
            target.bad_shape = servers.post(target.url, BAD_SHAPE)
        kept.append(target)
    return kept


def measure(target: Target, work: Path, seconds: int, results: Results, rate: float = 0.0) -> None:
    def add(load_name: str, sample: Sample) -> None:
        results.setdefault((target.section, target.kind, target.label, load_name), []).append(
            sample
        )

    body = work / "body.json"
    if target.grpc is None:
        peak = load.wrk(target.server, target.url, seconds, work / "post.lua")
        add("saturation", peak)
        if target.section == "workers":
            add("fixed rate", load.open_loop(target.server, target.url, rate, seconds, body))
        add("half peak", load.open_loop(target.server, target.url, peak.rps / 2, seconds, body))
        if target.hey:
            add("half peak, hey", load.hey(target.server, target.url, peak.rps / 2, seconds))
        return
    address, model = target.grpc
    base = target.server.health.removesuffix("/v2/health/ready")
    for protocol, where in (("REST", base), ("gRPC", address)):
        peak = load.closed_loop(target.server, protocol.lower(), where, model, seconds)
        add(f"{protocol} saturation", peak)
        if protocol == "REST":
            half = load.open_loop(
                target.server, f"{base}/v2/models/{model}/infer", peak.rps / 2, seconds, body
            )
        else:
            half = load.open_loop(target.server, address, peak.rps / 2, seconds, body, model)
        add(f"{protocol} half peak", half)
    if target.label.startswith("modelship"):
        add("gRPC, Triton client saturation",
            load.closed_loop(target.server, "triton", address, model, seconds))  # fmt: skip


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    began = time.monotonic()
    code = main()
    print(f"(benchmark took {time.monotonic() - began:.0f}s)", file=sys.stderr)
    sys.exit(code)
