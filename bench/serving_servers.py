"""The servers the serving benchmark compares, and the models they all serve.

Every model kind the trainer offers for classification is fitted once on iris and published to
a temporary catalog (what our server loads, as skops); the *same fitted estimator* is also
dumped with joblib, which is what MLServer's scikit-learn runtime and the minimal FastAPI
endpoint load. XGBoost and LightGBM are fitted by the trainer's own path and published in their
own formats; MLServer's XGBoost and LightGBM runtimes (mlserver-xgboost, mlserver-lightgbm) load
the same fitted models from `model.ubj` (written by the library's scikit-learn estimator, so
MLServer restores it as a classifier) and `model.txt`. Servers run pinned with `taskset`; their
CPU time and memory are read from /proc over the whole process tree (workers and MLServer's
inference pool are child processes).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
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
from modelship.catalog.boosters import FILES
from modelship.training import algorithms
from modelship.training.algorithms import build_estimator

HERE = Path(__file__).resolve().parent
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
KINDS = ["logistic_regression", "random_forest", "gradient_boosting", "hist_gradient_boosting",
         "svc", "knn", "xgboost", "lightgbm"]  # fmt: skip
# MLServer's runtime for each kind: its own for the boosting libraries, scikit-learn's otherwise.
MLSERVER_RUNTIMES = {"xgboost": "mlserver_xgboost.XGBoostModel",
                     "lightgbm": "mlserver_lightgbm.LightGBMModel"}  # fmt: skip
SERVER_CPU, CLIENT_CPU = "0", "1"


@dataclass(frozen=True)
class Published:
    kind: str
    name: str  # the served model name (kind with dashes)
    version: int
    digest: str
    path: Path
    """The same fitted model for MLServer (and the minimal endpoint): joblib, model.ubj or .txt."""


@dataclass
class Server:
    label: str
    argv: list[str]
    health: str
    env: dict[str, str] = field(default_factory=dict)
    cpus: str = SERVER_CPU
    process: subprocess.Popen[bytes] | None = None


def free_port(_given: set[int] = set()) -> int:  # noqa: B006 - the ports handed out so far
    """A port free now and not handed out before in this run (the kernel may offer a port
    again once its probe socket is closed, and a dozen servers take their ports later)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _given:
            _given.add(port)
            return port


def publish(root: Path, kinds: list[str]) -> dict[str, Published]:
    x, y = load_iris(return_X_y=True)
    edges = [np.unique(np.quantile(x[:, i], np.linspace(0, 1, 11))) for i in range(4)]
    profile = Profile(
        features=[
            FeatureProfile(name=f, edges=e.tolist(),
                           frequencies=(np.histogram(x[:, i], e)[0] / len(x)).tolist())
            for i, (f, e) in enumerate(zip(FEATURES, edges, strict=True))
        ]
    )  # fmt: skip
    catalog = open_catalog(str(root / "catalog"))
    (root / "joblib").mkdir(parents=True, exist_ok=True)
    published = {}
    for kind in kinds:
        name = kind.replace("_", "-")
        built = build_estimator(kind, {}, "classification", 0)
        estimator = algorithms.fit(built, x, y, kind, [0, 1, 2])
        if kind in FILES:
            path = root / "mlserver-models" / name / FILES[kind]
            path.parent.mkdir(parents=True)
            if kind == "xgboost":
                built.estimator.save_model(path)  # the library's own, classifier type included
            else:
                path.write_bytes(estimator.raw)
        else:
            path = root / "joblib" / f"{name}.joblib"
            joblib.dump(estimator, path)
        metadata = catalog.publish(
            "bench",
            name,
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
        published[kind] = Published(kind, name, metadata.version, metadata.digest, path)
    return published


def modelship(
    model: Published,
    root: Path,
    *,
    onnx: bool = True,
    workers: int = 1,
    cpus: str = SERVER_CPU,
    shared_metrics: bool = False,
    grpc_transport: str = "h2",
) -> tuple[Server, str, str]:
    """Our server for one model: (server, REST base URL, gRPC target). `shared_metrics` runs one
    worker as a worker of a pod runs (multiprocess metrics and shared drift counts in a
    directory), without a supervisor: the cost of the shared metrics alone."""
    port, grpc_port = free_port(), free_port()
    env = {
        "MODELSHIP_SERVING_MODEL_NAME": model.name,
        "MODELSHIP_SERVING_NAMESPACE": "bench",
        "MODELSHIP_SERVING_VERSION": str(model.version),
        "MODELSHIP_SERVING_CATALOG_ROOT": str(root / "catalog"),
        "MODELSHIP_SERVING_EXPECTED_DIGEST": model.digest,
        "MODELSHIP_SERVING_HOST": "127.0.0.1",
        "MODELSHIP_SERVING_PORT": str(port),
        "MODELSHIP_SERVING_GRPC_PORT": str(grpc_port),
        "MODELSHIP_SERVING_ONNX": json.dumps(onnx),
        "MODELSHIP_SERVING_LOG_LEVEL": "warning",
        "MODELSHIP_SERVING_WORKERS": str(workers),
        "MODELSHIP_SERVING_GRPC_TRANSPORT": grpc_transport,
    }
    if shared_metrics:
        shared = root / f"shared-{port}"
        shared.mkdir()
        env["MODELSHIP_SERVING_WORKER_DIR"] = env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    label = f"modelship {model.kind}" + ("" if onnx else " onnx=off") + f" w{workers}"
    label += "" if grpc_transport == "h2" else f" {grpc_transport}"
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "modelship.serving"]
    return Server(label, argv, f"{base}/v2/health/ready", env, cpus), base, f"127.0.0.1:{grpc_port}"


def minimal(models: list[Published]) -> tuple[Server, str]:
    port = free_port()
    argv = [sys.executable, str(HERE / "minimal_server.py"), "--port", str(port)]
    for model in models:
        argv += ["--model", f"{model.name}={model.path}"]
    base = f"http://127.0.0.1:{port}"
    return Server("minimal FastAPI", argv, f"{base}/health"), base


def mlserver(
    directory: Path,
    executable: Path,
    models: list[Published],
    *,
    batching: set[str],
    workers: int = 0,
    cpus: str = SERVER_CPU,
) -> tuple[Server, str, str]:
    """One MLServer serving every model from its joblib file; kinds in `batching` also under
    `<name>-batch` with adaptive batching (32 rows, 2 ms). (server, REST base, gRPC target)."""
    directory.mkdir(parents=True)
    port, grpc_port = free_port(), free_port()
    settings = {"parallel_workers": workers, "host": "127.0.0.1", "http_port": port,
                "grpc_port": grpc_port, "metrics_port": free_port(), "debug": False}  # fmt: skip
    (directory / "settings.json").write_text(json.dumps(settings))
    for model in models:
        for batch in (False, True) if model.kind in batching else (False,):
            name = f"{model.name}-batch" if batch else model.name
            model_settings: dict[str, Any] = {
                "name": name,
                "implementation": MLSERVER_RUNTIMES.get(
                    model.kind, "mlserver_sklearn.SKLearnModel"
                ),
                "parameters": {"uri": str(model.path)},
            }
            if batch:
                model_settings.update(max_batch_size=32, max_batch_time=0.002)
            (directory / name).mkdir()
            (directory / name / "model-settings.json").write_text(json.dumps(model_settings))
    base = f"http://127.0.0.1:{port}"
    argv = [str(executable), "start", str(directory)]
    label = f"MLServer w{workers}"
    return Server(label, argv, f"{base}/v2/health/ready", cpus=cpus), base, f"127.0.0.1:{grpc_port}"


def find_mlserver(location: Path) -> Path | None:
    """The `mlserver` executable: `location` itself, or bin/mlserver of a virtualenv there."""
    for candidate in (location, location / "bin" / "mlserver"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def start(server: Server, log_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHIP_")}
    env.update(server.env)
    log = (log_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', server.label)}.log").open("wb")
    server.process = subprocess.Popen(
        ["taskset", "-c", server.cpus, *server.argv], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def wait_ready(server: Server, timeout: float = 180.0) -> None:
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


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def post(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
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
