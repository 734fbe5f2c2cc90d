"""Versions published into a temporary catalog for the inference server's tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sklearn.datasets import load_iris
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
    VersionMetadata,
    open_catalog,
)
from modelship.devcluster.ports import free_ports
from support.waiting import wait_for

NAMESPACE = "ml"
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def publish(
    root: Path, model: str, estimator: Any, x: np.ndarray, y: np.ndarray, names: list[str]
) -> VersionMetadata:
    task = "classification" if hasattr(estimator, "predict_proba") else "regression"
    estimator.fit(x, y)
    edges = [np.unique(np.quantile(x[:, i], np.linspace(0, 1, 11))) for i in range(x.shape[1])]
    profile = Profile(
        features=[
            FeatureProfile(
                name=name,
                edges=e.tolist(),
                frequencies=(np.histogram(x[:, i], bins=e)[0] / len(x)).tolist(),
            )
            for i, (name, e) in enumerate(zip(names, edges, strict=True))
        ]
    )
    staged = StagedVersion(
        model=estimator,
        task=task,
        algorithm=AlgorithmInfo(name=type(estimator).__name__, params={}),
        dataset=DatasetInfo(uri=f"builtin:{model}", digest="sha256:" + "0" * 64, rows=len(x)),
        features=[FeatureInfo(name=n) for n in names],
        target=TargetInfo(
            name="target", classes=np.unique(y).tolist() if task == "classification" else None
        ),
        acceptance=AcceptanceSet(features=names, inputs=x[::5].tolist(), targets=y[::5].tolist()),
        profile=profile,
    )
    return open_catalog(str(root)).publish(NAMESPACE, model, staged)


@dataclass
class ServerProcess:
    """`python -m modelship.serving` as a real process serving iris from a temporary catalog."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    grpc_port: int
    log: Path
    x: np.ndarray
    y: np.ndarray

    def ready(self) -> bool:
        try:
            url = f"http://{self.host}:{self.port}/v2/health/ready"
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


@contextmanager
def iris_server(root: Path, **settings: str) -> Iterator[ServerProcess]:
    """Publish a LogisticRegression on iris under `root` and serve it (ready when yielded);
    `settings` are extra MODELSHIP_SERVING_* variables, by field name."""
    x, y = load_iris(return_X_y=True)
    metadata = publish(root, "iris", LogisticRegression(max_iter=1000), x, y, IRIS_FEATURES)
    with serve(root, metadata, x, y, **settings) as server:
        yield server


@contextmanager
def serve(
    root: Path, metadata: VersionMetadata, x: np.ndarray, y: np.ndarray, **settings: str
) -> Iterator[ServerProcess]:
    """Serve a published version of the catalog under `root` as a real process."""
    host, (port, grpc_port) = "127.0.0.1", free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHIP_")}
    values = {
        "model_name": metadata.model,
        "namespace": NAMESPACE,
        "version": str(metadata.version),
        "expected_digest": metadata.digest,
        "catalog_root": str(root),
        "port": str(port),
        "grpc_port": str(grpc_port),
        "host": host,
        **settings,
    }
    env.update({f"MODELSHIP_SERVING_{k.upper()}": v for k, v in values.items()})
    env["PYTHONFAULTHANDLER"] = "1"  # a crash, or SIGABRT from a test, leaves stacks in the log
    log = root / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "modelship.serving"], env=env, stdout=out, stderr=out
        )
    server = ServerProcess(process, host, port, grpc_port, log, x, y)
    try:
        wait_for(server.ready, timeout=60, what="server ready", describe=log.read_text)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def server_metric(
    server: ServerProcess, name: str, absent: float | None = None, **labels: str
) -> float:
    """One sample of the server's /metrics, found by name and labels; `absent` when the series
    does not exist yet (a labelled counter appears with its first increment), if given."""
    text = httpx.get(f"http://{server.host}:{server.port}/metrics").text
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] == name and all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    if absent is not None:
        return absent
    raise AssertionError(f"{name} {labels} not exported")
