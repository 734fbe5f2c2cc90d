"""Benchmark: our inference server vs. a minimal FastAPI endpoint vs. Seldon MLServer.

One command (`.venv/bin/python bench/serving.py`) trains iris LogisticRegression and
RandomForest(100), publishes them to a temporary catalog, starts every server pinned to CPU 0
and drives each with `wrk` (32 connections) pinned to CPU 1, in interleaved rounds, then prints
medians and the ratios from this same run. Figures are for the note, never asserted in tests.

MLServer 1.7.1 runs from its own virtual environment (`--mlserver-venv`, default
/tmp/mlserver-venv: `pip install mlserver==1.7.1 mlserver-sklearn==1.7.1 'uvloop<0.22'
httptools`); without it the MLServer rows are left out and the report says so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

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

HERE = Path(__file__).resolve().parent
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROW = {
    "inputs": [
        {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [5.9, 3.0, 5.1, 1.8]}
    ]
}
BAD_SHAPE = {
    "inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": [5.9, 3.0, 5.1]}]
}
SERVER_CPU, CLIENT_CPU = "0", "1"


@dataclass
class Server:
    label: str
    argv: list[str]
    health: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None


@dataclass
class Target:
    label: str
    model: str  # "lr" or "rf"
    url: str
    server: Server


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    rss_mb: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def publish(root: Path) -> dict[str, tuple[int, str, Path]]:
    x, y = load_iris(return_X_y=True)
    catalog = open_catalog(str(root))
    published = {}
    for name, estimator in (
        ("lr", LogisticRegression(max_iter=1000)),
        ("rf", RandomForestClassifier(n_estimators=100, random_state=0)),
    ):
        estimator.fit(x, y)
        edges = [np.unique(np.quantile(x[:, i], np.linspace(0, 1, 11))) for i in range(4)]
        profile = Profile(
            features=[
                FeatureProfile(
                    name=f,
                    edges=e.tolist(),
                    frequencies=(np.histogram(x[:, i], e)[0] / len(x)).tolist(),
                )
                for i, (f, e) in enumerate(zip(FEATURES, edges, strict=True))
            ]
        )
        metadata = catalog.publish(
            "bench",
            name,
            StagedVersion(
                model=estimator,
                task="classification",
                algorithm=AlgorithmInfo(name=type(estimator).__name__),
                dataset=DatasetInfo(uri="builtin:iris", digest="sha256:" + "0" * 64, rows=len(x)),
                features=[FeatureInfo(name=f) for f in FEATURES],
                target=TargetInfo(name="species", classes=[0, 1, 2]),
                acceptance=AcceptanceSet(
                    features=FEATURES, inputs=x[::5].tolist(), targets=y[::5].tolist()
                ),
                profile=profile,
            ),
        )
        artifact = root / "bench" / name / str(metadata.version) / "model.joblib"
        published[name] = (metadata.version, metadata.digest, artifact)
    return published


def ours(model: str, version: int, digest: str, root: Path) -> tuple[Server, str]:
    port = free_port()
    env = {
        "MODELSHIP_SERVING_MODEL_NAME": model,
        "MODELSHIP_SERVING_NAMESPACE": "bench",
        "MODELSHIP_SERVING_VERSION": str(version),
        "MODELSHIP_SERVING_CATALOG_ROOT": str(root),
        "MODELSHIP_SERVING_EXPECTED_DIGEST": digest,
        "MODELSHIP_SERVING_HOST": "127.0.0.1",
        "MODELSHIP_SERVING_PORT": str(port),
        "MODELSHIP_SERVING_LOG_LEVEL": "warning",
    }
    base = f"http://127.0.0.1:{port}"
    server = Server(
        f"modelship-{model}",
        [sys.executable, "-m", "modelship.serving"],
        f"{base}/v2/health/ready",
        env,
    )
    return server, base


def mlserver_config(
    directory: Path, venv: Path, workers: int, artifacts: dict[str, Path]
) -> tuple[Server, str]:
    directory.mkdir(parents=True)
    port = free_port()
    settings = {
        "parallel_workers": workers,
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "debug": False,
    }
    (directory / "settings.json").write_text(json.dumps(settings))
    for model, artifact in artifacts.items():
        for batching in (False, True):
            name = f"{model}-batch" if batching else model
            model_settings: dict[str, Any] = {
                "name": name,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": str(artifact)},
            }
            if batching:
                model_settings.update(max_batch_size=32, max_batch_time=0.002)
            (directory / name).mkdir()
            (directory / name / "model-settings.json").write_text(json.dumps(model_settings))
    base = f"http://127.0.0.1:{port}"
    argv = [str(venv / "bin" / "mlserver"), "start", str(directory)]
    return Server(f"mlserver-w{workers}", argv, f"{base}/v2/health/ready"), base


def start(server: Server, log_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHIP_")}
    env.update(server.env)
    log = (log_dir / f"{server.label}.log").open("wb")
    server.process = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, *server.argv], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def wait_ready(server: Server, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.label} exited with {server.process.returncode}")
        try:
            with urllib.request.urlopen(server.health, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{server.label} not ready after {timeout:.0f}s")


def stop(server: Server) -> None:
    if server.process is not None and server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def tree(pid: int) -> list[int]:
    """pid and all its descendants (MLServer's parallel workers are child processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(match.group(1)) if match else 0
    return total / 1024


def post(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def wrk(target: Target, seconds: int, connections: int, script: Path) -> Sample:
    assert target.server.process is not None
    pids = tree(target.server.process.pid)
    cpu_before = cpu_seconds(pids)
    output = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
         "--latency", "-s", str(script), target.url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cpu = cpu_seconds(pids) - cpu_before
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    timeouts = re.search(r"timeout (\d+)", output)
    return Sample(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),  # type: ignore[union-attr]
        cpu_us=cpu / max(requests, 1) * 1e6,
        rss_mb=rss_mb(pids),
        errors=(int(errors.group(1)) if errors else 0)
        + (int(timeouts.group(1)) if timeouts else 0),
    )


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--mlserver-venv", type=Path, default=Path("/tmp/mlserver-venv"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="modelship-bench-"))
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{json.dumps(ROW)}]]\n"
    )
    published = publish(work / "catalog")
    servers: list[Server] = []
    targets: list[Target] = []
    for model, (version, digest, _) in published.items():
        server, base = ours(model, version, digest, work / "catalog")
        servers.append(server)
        targets.append(Target("modelship", model, f"{base}/v2/models/{model}/infer", server))
    port = free_port()
    minimal = Server(
        "minimal",
        [sys.executable, str(HERE / "minimal_server.py"), "--port", str(port)]
        + [arg for m, (_, _, path) in published.items() for arg in ("--model", f"{m}={path}")],
        f"http://127.0.0.1:{port}/health",
    )
    servers.append(minimal)
    for model in published:
        targets.append(
            Target(
                "minimal FastAPI",
                model,
                f"http://127.0.0.1:{port}/v2/models/{model}/infer",
                minimal,
            )
        )
    mlserver_note = ""
    if (args.mlserver_venv / "bin" / "mlserver").exists():
        artifacts = {m: path for m, (_, _, path) in published.items()}
        for workers in (0, 1):
            server, base = mlserver_config(
                work / f"mlserver-w{workers}", args.mlserver_venv, workers, artifacts
            )
            servers.append(server)
            for model in published:
                for batching in (False, True):
                    name = f"{model}-batch" if batching else model
                    label = f"MLServer w={workers} batch={'on' if batching else 'off'}"
                    targets.append(Target(label, model, f"{base}/v2/models/{name}/infer", server))
    else:
        mlserver_note = f"MLServer not found in {args.mlserver_venv}: its rows are left out."

    samples: dict[tuple[str, str], list[Sample]] = {}
    bad_shape: dict[str, int] = {}
    try:
        for server in servers:
            start(server, work)
        for server in servers:
            wait_ready(server)
        for target in targets:
            assert post(target.url, ROW) == 200, target.label
            bad_shape[target.label] = post(target.url, BAD_SHAPE)
            wrk(target, 2, args.connections, script)  # warm-up
        for round_number in range(args.rounds):
            order = targets if round_number % 2 == 0 else list(reversed(targets))
            for target in order:
                sample = wrk(target, args.seconds, args.connections, script)
                samples.setdefault((target.label, target.model), []).append(sample)
                print(
                    f"round {round_number + 1} {target.model} {target.label}: {sample.rps:.0f}/s",
                    file=sys.stderr,
                )
    finally:
        for server in servers:
            stop(server)

    report(samples, bad_shape, args, mlserver_note)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def report(
    samples: dict[tuple[str, str], list[Sample]],
    bad_shape: dict[str, int],
    args: argparse.Namespace,
    note: str,
) -> None:
    print(
        f"\n{args.rounds} interleaved rounds x {args.seconds}s, wrk -c{args.connections} on CPU "
        f"{CLIENT_CPU}, servers on CPU {SERVER_CPU}; medians.\n"
    )
    header = (
        "| model | server | req/s | p50 ms | p99 ms | CPU-µs/req | RSS MB | non-2xx | bad shape |"
    )
    print(header)
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    medians: dict[tuple[str, str], Sample] = {}
    for (label, model), runs in samples.items():
        median = Sample(
            *(statistics.median(getattr(s, f) for s in runs) for f in Sample.__dataclass_fields__)
        )
        medians[(label, model)] = median
        print(
            f"| {model} | {label} | {median.rps:.0f} | {median.p50_ms:.1f} | {median.p99_ms:.1f} | "
            f"{median.cpu_us:.0f} | {median.rss_mb:.0f} | {median.errors:.0f} | "
            f"{bad_shape[label]} |"
        )
    print()
    for model in ("lr", "rf"):
        mine = medians.get(("modelship", model))
        if mine is None:
            continue
        minimal = medians.get(("minimal FastAPI", model))
        if minimal:
            ratio, cpu = mine.rps / minimal.rps, minimal.cpu_us / mine.cpu_us
            print(f"{model}: modelship / minimal FastAPI = {ratio:.2f}x req/s, {cpu:.2f}x less CPU")
        mls = {k[0]: v for k, v in medians.items() if k[1] == model and k[0].startswith("MLServer")}
        if mls:
            best_label, best = max(mls.items(), key=lambda item: item[1].rps)
            ratio = mine.rps / best.rps
            print(f"{model}: modelship / MLServer best ({best_label}) = {ratio:.2f}x throughput")
    if note:
        print(note)


if __name__ == "__main__":
    sys.exit(main())
