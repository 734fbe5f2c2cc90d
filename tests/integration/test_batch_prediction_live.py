"""BatchPrediction on the local cluster: a production version scores a 100,000-row CSV served
over http from this machine in four shards (an Indexed Job, two at a time) while the operator
and one shard's process are SIGKILLed; only the killed shard is scored again, the output is in
input order with ids and passthrough and equals the stored estimator in-process; an unapproved
version is refused unless the run is a backtest; a run over the parts of an earlier one redoes
only the part that went missing; malformed rows land in the errors part or fail the run."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import load_iris

from modelship.api.v1alpha1 import API_VERSION, BatchPredictionSpec
from modelship.catalog import open_catalog
from modelship.client import Client
from modelship.contracts.batch import BatchReport
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import (
    BATCH_PREDICTIONS,
    JOBS,
    MODEL_DEPLOYMENTS,
    MODELS,
    PODS,
)
from modelship.operator.settings import OperatorSettings
from support.factories import iris_deployment, iris_model
from support.live import (
    approve,
    awaiting_approval,
    catalog_dir,
    status_of,
    wait_for_status,
)
from support.operator import OperatorProcess
from support.waiting import wait_for

pytestmark = pytest.mark.integration
MOUNT = OperatorSettings().catalog_mount_path
SHARDS = 4
ROWS = 100_000
ROWS_PER_SHARD = 25_000
FEATURES = list(load_iris().feature_names)
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


@dataclass(frozen=True)
class Customers:
    """The nightly input: its bytes, and what each row carries, in input order."""

    body: bytes
    ids: list[str]
    segments: list[str]
    species: list[str]
    features: NDArray[np.float64]
    """The feature cells as the text says them (what the in-process estimator gets)."""

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body).hexdigest()


def customers() -> Customers:
    """Iris rows drawn with a seeded RNG plus small noise, two decimals; ids are a shuffle, so
    input order is not id order; `species` (the drawn row's class) and `segment` pass through."""
    iris = load_iris()
    rng = np.random.default_rng(26)
    drawn = rng.integers(0, len(iris.target), ROWS)
    values = np.clip(iris.data[drawn] + rng.normal(0.0, 0.05, (ROWS, len(FEATURES))), 0.1, None)
    cells = np.char.mod("%.2f", values)
    ids = [f"c{n:06d}" for n in rng.permutation(ROWS)]
    segments = rng.choice(["north", "south", "east", "west"], ROWS).tolist()
    species = [str(t) for t in iris.target[drawn]]
    lines = [",".join(["customer", *FEATURES, "segment", "species"])]
    table = zip(ids, cells.tolist(), segments, species, strict=True)
    lines += [",".join([i, *row, s, t]) for i, row, s, t in table]
    body = ("\n".join(lines) + "\n").encode()
    return Customers(body, ids, segments, species, cells.astype(np.float64))


class CustomersSource:
    """The input served over http from this machine, a slow source on demand: from the
    `hold_from`-th request on, a response sends its first megabyte and then waits for
    `release()`. A shard hashes the whole input before it scores, so a held shard is mid-run
    with its part unwritten, whenever the test looks (shards are a few seconds otherwise)."""

    def __init__(self, data: Customers, hold_from: int) -> None:
        self.data, self.hold_from = data, hold_from
        self.url = ""
        self.requests = self.held = 0
        self._lock = threading.Lock()
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        if request.path != "/customers.csv":
            request.send_error(404)
            return
        with self._lock:
            self.requests += 1
            hold = self.requests >= self.hold_from and not self._released.is_set()
        body = self.data.body
        request.send_response(200)
        request.send_header("Content-Type", "text/csv")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        first = 1 << 20 if hold else len(body)
        try:
            request.wfile.write(body[:first])
            if hold:
                with self._lock:
                    self.held += 1
                self._released.wait(300)
            request.wfile.write(body[first:])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reader was killed


@pytest.fixture
def nightly_input(host_for_pods: str) -> Iterator[CustomersSource]:
    """The customers, served where the cluster's pods reach this machine. Requests: the plan
    (1), shards 0 and 1 (2, 3), then shards 2 and 3 (4, 5), held until released."""
    source = CustomersSource(customers(), hold_from=4)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            source.serve(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host_for_pods, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    source.url = f"http://{host_for_pods}:{server.server_address[1]}/customers.csv"
    try:
        yield source
    finally:
        source.release()
        server.shutdown()
        server.server_close()


def batch(name: str, version: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "BatchPrediction",
        "metadata": {"name": name},
        "spec": {
            "model": "iris",
            "version": version,
            "input": {"uri": "builtin:iris", "passthrough": ["target"]},
            "sharding": {"rowsPerShard": 40, "parallelism": 2, "retriesPerShard": 1},
            **spec,
        },
    }


def finished(status: dict[str, Any]) -> bool:
    return status.get("phase") in ("Succeeded", "Failed")


def shard_reports(kube: Kube, namespace: str, job: str) -> list[BatchReport]:
    reports = []
    for pod in kube.list(PODS, namespace, {"job-name": job}):
        for container in pod["status"].get("containerStatuses") or []:
            message = ((container.get("state") or {}).get("terminated") or {}).get("message")
            if (report := BatchReport.from_message(message)) is not None and report.ok:
                reports.append(report)
    return reports


def shard_index(pod: dict[str, Any]) -> int:
    return int(pod["metadata"]["annotations"][INDEX_ANNOTATION])


def sigkill_shard(pod: dict[str, Any]) -> None:
    """SIGKILL a running shard pod's process: the local cluster's pods are processes on this
    machine, and the container id names the pid (checked against the pod's shard index)."""
    container = pod["status"]["containerStatuses"][0]
    pid = int(container["containerID"].removeprefix("modelship-local://"))
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert f"JOB_COMPLETION_INDEX={shard_index(pod)}".encode() in environ, pod["metadata"]
    os.killpg(pid, signal.SIGKILL)


def part_shards(directory: Path) -> list[int]:
    """The shards whose part is complete (its record written last) in an output directory."""
    return sorted(int(record.name.split("-")[0]) for record in directory.glob(".parts/*.json"))


def wait_cli(kubeconfig: Path, namespace: str, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelship.cli", "wait", "-n", namespace, "--kubeconfig",
         str(kubeconfig), target, "--for", "Succeeded", "--timeout", "5m"],
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip


def test_batch_prediction_scores_in_order_and_resumes(
    operator: OperatorProcess, kube: Kube, namespace: str, cluster_kubeconfig: Path,
    nightly_input: CustomersSource,
) -> None:  # fmt: skip
    served = nightly_input.data
    host = catalog_dir(kube, namespace)
    kube.create(MODELS, namespace, iris_model("iris"))
    kube.create(MODEL_DEPLOYMENTS, namespace, iris_deployment("iris"))
    wait_for_status(kube, MODEL_DEPLOYMENTS, namespace, "iris", awaiting_approval(1), 300,
                    describe=operator.tail)  # fmt: skip

    # Tested but not approved: refused by default, accepted as a backtest (and marked so). The
    # backtest is one shard (sharding is the nightly run's subject); the version is approved
    # once the backtest has resolved it, and its production rollout overlaps the backtest.
    kube.create(BATCH_PREDICTIONS, namespace, batch("early", {"number": 1}))
    # An unknown model and an unknown version fail once, with a condition, not a crash loop.
    unknown_model = batch("nobody", {"stage": "production"})
    unknown_model["spec"]["model"] = "nobody"
    kube.create(BATCH_PREDICTIONS, namespace, unknown_model)
    kube.create(BATCH_PREDICTIONS, namespace, batch("version-9", {"number": 9}))
    early = wait_for_status(kube, BATCH_PREDICTIONS, namespace, "early", finished, 60)
    assert early["phase"] == "Failed" and early["failure"]["reason"] == "VersionNotApproved"
    for name, reason, named in (("nobody", "ModelNotFound", "nobody"),
                                ("version-9", "VersionNotFound", "no version 9")):  # fmt: skip
        refused = wait_for_status(kube, BATCH_PREDICTIONS, namespace, name, finished, 60)
        assert refused["phase"] == "Failed", refused
        assert refused["failure"]["reason"] == reason and named in refused["failure"]["message"]
        assert not kube.list(JOBS, namespace, {"modelship.io/batchprediction": name}), name
    one_shard = {"rowsPerShard": 150, "parallelism": 1, "retriesPerShard": 1}
    backtest_run = batch("backtest", {"number": 1}, requireApproved=False, sharding=one_shard)
    kube.create(BATCH_PREDICTIONS, namespace, backtest_run)
    wait_for_status(kube, BATCH_PREDICTIONS, namespace, "backtest",
                    lambda s: s.get("resolved") or finished(s), 60)  # fmt: skip

    approve(kube, namespace, "iris")
    backtest = wait_for_status(kube, BATCH_PREDICTIONS, namespace, "backtest", finished, 300,
                               describe=operator.tail)  # fmt: skip
    assert backtest["phase"] == "Succeeded", backtest
    assert backtest["resolved"]["approved"] is False
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris",
        lambda s: (s.get("production") or {}).get("version") == 1 and s.get("phase") == "Serving",
        300, describe=operator.tail,
    )  # fmt: skip

    shared = f"file://{MOUNT}/outputs/iris-nightly"
    source = {"uri": nightly_input.url, "idColumn": "customer",
              "passthrough": ["segment", "species"], "digest": served.digest}  # fmt: skip
    sharding = {"rowsPerShard": ROWS_PER_SHARD, "parallelism": 2, "retriesPerShard": 1}
    kube.create(BATCH_PREDICTIONS, namespace,
                batch("nightly", {"stage": "production"}, input=source, sharding=sharding,
                      output={"uri": shared}))  # fmt: skip
    # Mid-run: shards 0 and 1 have written their parts, shards 2 and 3 are reading the input
    # (held). The operator and shard 3's process are SIGKILLed; the Job retries shard 3, the
    # restarted operator picks the run up where its status says it is.
    out = host / "outputs" / "iris-nightly"
    wait_for(lambda: nightly_input.held == 2, timeout=300, what="shards 2 and 3 reading",
             describe=operator.tail)  # fmt: skip
    assert part_shards(out) == [0, 1]
    scoring = kube.list(PODS, namespace, {"job-name": "nightly-score-1"})
    running = {shard_index(p): p for p in scoring if p["status"].get("phase") == "Running"}
    assert sorted(running) == [2, 3], running.keys()
    victim, victim_pod = 3, running[3]["metadata"]["name"]
    operator.kill()
    sigkill_shard(running[victim])
    operator.start()
    nightly_input.release()
    done = wait_cli(cluster_kubeconfig, namespace, "bp/nightly")
    assert done.returncode == 0, done.stdout + done.stderr + operator.tail()
    status = status_of(kube, BATCH_PREDICTIONS, namespace, "nightly")
    resolved = status["resolved"]
    model_status = status_of(kube, MODELS, namespace, "iris")
    assert resolved["version"] == 1 and resolved["approved"] is True
    assert resolved["digest"] == model_status["versions"][0]["digest"]
    assert resolved["approvedBy"] and (resolved["rows"], resolved["shards"]) == (ROWS, SHARDS)
    assert resolved["inputDigest"] == served.digest
    counts = {k: status["shards"].get(k, 0) for k in ("succeeded", "running", "failed", "retried")}
    assert counts == {"succeeded": SHARDS, "running": 0, "failed": 0, "retried": 0}, counts
    assert status["attempt"] == 1
    # Redone: the killed shard once, by the Job's retry; every other shard scored once.
    pods = kube.list(PODS, namespace, {"job-name": "nightly-score-1"})
    killed = next(p for p in pods if p["metadata"]["name"] == victim_pod)
    exit_code = killed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]
    assert exit_code == 128 + signal.SIGKILL, killed["status"]
    per_shard = Counter(shard_index(p) for p in pods)
    assert per_shard == {0: 1, 1: 1, 2: 1, victim: 2}, per_shard
    assert sum(per_shard.values()) - SHARDS == 1  # the one part that was missing
    scored = shard_reports(kube, namespace, "nightly-score-1")
    assert sorted(r.shard or 0 for r in scored if not r.reused) == list(range(SHARDS))
    assert [r for r in scored if r.reused] == []

    text = (out / "predictions.csv").read_bytes()
    assert status["output"]["digest"] == "sha256:" + hashlib.sha256(text).hexdigest()
    assert status["output"]["rows"] == ROWS and status["output"].get("errorRows", 0) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input"] == {"uri": nightly_input.url, "digest": served.digest}
    header, *rows = list(csv.reader(io.StringIO(text.decode())))
    assert header == ["id", "segment", "species", "prediction",
                      "proba_0", "proba_1", "proba_2", "model_version"]  # fmt: skip
    ids, segments, species, predictions, *probabilities, versions = zip(*rows, strict=True)
    assert list(ids) == served.ids
    assert (list(segments), list(species)) == (served.segments, served.species)
    assert set(versions) == {"1"}
    version = open_catalog(str(host)).open_verified(namespace, "iris", 1)
    estimator = version.load_model()
    expected = [str(v) for v in estimator.predict(served.features)]
    assert list(predictions) == expected
    proba = np.array(probabilities, dtype=np.float64).T
    np.testing.assert_allclose(proba, estimator.predict_proba(served.features), rtol=1e-9)

    # Malformed rows: under maxFailedRows they land in the errors part, over it the run fails
    # naming them. (These two runs go on while the resumed run below scores.)
    iris = load_iris()
    table = host / "data" / "malformed.csv"
    table.parent.mkdir(parents=True, exist_ok=True)
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer", *FEATURES])
        for i, row in enumerate(iris.data[:60]):
            cells = ["n/a" if i in (7, 33) and j == 2 else str(v) for j, v in enumerate(row)]
            writer.writerow([f"cust-{i}", *cells])
    malformed = {"uri": f"file://{MOUNT}/data/malformed.csv", "idColumn": "customer"}
    kube.create(BATCH_PREDICTIONS, namespace,
                batch("under", {"number": 1}, input=malformed, maxFailedRows=2))  # fmt: skip
    kube.create(BATCH_PREDICTIONS, namespace,
                batch("over", {"number": 1}, input=malformed, maxFailedRows=1))  # fmt: skip
    # The same run again over the same directory with one part gone: only that shard scores.
    lost = sorted((out / ".parts").glob("*.part"))[2]
    lost.unlink()
    # (Submitted and awaited through the SDK, as a pipeline step would.)
    again = batch("again", {"digest": resolved["digest"]}, input=source, sharding=sharding,
                  output={"uri": shared})  # fmt: skip
    with Client(namespace=namespace, kubeconfig=str(cluster_kubeconfig), progress=False) as ms:
        rerun = ms.score("again", BatchPredictionSpec.model_validate(again["spec"]), timeout=300)
    assert rerun.status.output is not None
    assert rerun.status.output.digest == status["output"]["digest"]
    redone = shard_reports(kube, namespace, "again-score-1")
    assert sorted(r.shard or 0 for r in redone if not r.reused) == [2]
    assert sorted(r.shard or 0 for r in redone if r.reused) == [0, 1, 3]

    under = wait_for_status(kube, BATCH_PREDICTIONS, namespace, "under", finished, 300,
                            describe=operator.tail)  # fmt: skip
    assert under["phase"] == "Succeeded", under
    assert (under["output"]["rows"], under["output"]["errorRows"]) == (58, 2)
    errors_path = Path(
        unquote(urlparse(under["output"]["errorsRef"]).path).replace(MOUNT, str(host))
    )
    errors = [json.loads(line) for line in errors_path.read_text().splitlines()]
    assert [(e["row"], e["id"]) for e in errors] == [(7, "cust-7"), (33, "cust-33")]
    assert all("'n/a'" in e["reason"] and "petal length" in e["reason"] for e in errors)
    over = wait_for_status(kube, BATCH_PREDICTIONS, namespace, "over", finished, 300,
                           describe=operator.tail)  # fmt: skip
    assert over["phase"] == "Failed" and over["failure"]["reason"] == "TooManyFailedRows"
    assert "row 7 (id cust-7)" in over["failure"]["message"]
