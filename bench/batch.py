"""Batch scoring throughput: a BatchPrediction shard against the library and the serving code.

    .venv/bin/python bench/batch.py [--rows 200000] [--kinds logistic_regression random_forest]
        [--nice 10] [--skip-parallel]

A generated numeric table (`make_classification`, 10 features, an id column, seeded) is written
to a CSV; each kind is trained by the trainer itself on its first 5,000 rows (random_forest with
100 trees) into a temporary file catalog. Then, for the same rows, in one run:

- floor: the stored estimator's own `predict` and `predict_proba` on the in-memory float array
  (nothing read, nothing written: what the library costs);
- serving: the serving code in-process (`serving.scoring.predict_request`, what the online
  server runs for a request after JSON parsing) over v2 documents of 1,000 rows, with
  probabilities, the documents built beforehand (no HTTP, no JSON: a lower bound of the online
  path's cost);
- batch: one shard of the worker (`modelship.batch.steps.shard`) over all rows, end to end:
  streaming the CSV, hashing it, decoding through the same serving code, writing the part
  (id, prediction, probabilities, version), with the plan step timed beside it.

- online: the same rows through our real server (`python -m modelship.serving`, started as the
  serving benches start it, on the catalog the bench trained into) as a client sends them: the
  CSV read, 1,000-row v2 documents (an FP64 tensor per feature) as JSON over one kept-alive
  HTTP/1.1 connection, the answers parsed; rows/s per core of the server's CPU (its process
  tree, from /proc) and, as `online+`, of server + client CPU together;
- ceiling: what C readers and writers give on the same file for this model: pyarrow's CSV
  reader on one thread (features read as text and cast to float64 by pyarrow, its fastest
  way), the library's predict and predict_proba, pyarrow's CSV writer (id, prediction,
  probabilities, version); `ceiling+` adds the sha256 of the input that a shard computes.

Rows per second per core are printed with the ratios batch/floor and batch/serving. Then the
same rows in two shards as `python -m modelship.batch` processes, one after the other
(parallelism 1) and both at once (parallelism 2), wall-clock rows per second of each: on a
machine with two free cores, 2 approaches twice 1 minus the input read each shard makes in
full (it hashes the whole input to refuse one that changed). Figures only; never asserted.

Figures before the columnar path (shared 2-core VM, niced 10, the unit suite running beside
it, load 11-20), logistic_regression --rows 30000: floor 2,602,821 rows/s, serving 224,115,
batch 69,427 (batch/floor 0.03, batch/serving 0.31); random_forest: floor 50,988, serving
55,017, batch 28,112 (0.55, 0.51). Two 15,000-row shards as processes: parallelism 2 / 1 was
1.15 (logistic regression: process start and model load dominate) and 2.07 (forest).

The columnar path (`batch.stream` splits blocks without quotes in C, `batch.rows` parses a
chunk's numeric text as one float64 array per column and builds output lines per column), same
machine, --rows 200000 --skip-parallel, niced 10, load 4-5, the code before and after it run
back to back:
- logistic_regression: floor 4.6 M / 4.2 M rows/s; batch 87,790 -> 211,175 (2.4x);
  batch/floor 0.02 -> 0.05, batch/serving 0.25 -> 0.68; plan 871,236 -> 2,136,629.
- random_forest: floor 98,518 / 89,337; batch 52,845 -> 79,637 (1.5x); batch/floor
  0.54 -> 0.89, batch/serving 0.57 -> 0.86; plan 999,272 -> 2,950,179.
A cProfile of the 200,000-row logistic regression shard after: reading ~33 % (splitting the
blocks ~12 %), output lines ~26 % (`float.__repr__` of the probabilities, the bytes the per-row
way writes, ~21 %), numeric text to float64 ~18 % (`float` per cell ~13 %), the serving decode
~4 %, the estimator ~2 %. Python's own float parsing and formatting alone (~1.7 us a row)
cap a shard near 0.15 of this floor for a model as cheap as logistic regression: half of it
needs a C CSV reader and writer (pyarrow's: added since, below).

Issue 26's goal, measured (the code before pyarrow, bench lines online and ceiling added), same
machine, --rows 200,000 --skip-parallel, niced 10, load 11-19 (shared): logistic_regression:
floor 2,437,719, batch 187,914 (0.08 of the floor), online 285,714 server CPU / 90,415 server
+ client (batch/online 0.66 / 2.08), ceiling (pyarrow, features read typed float64) 433,001
(0.18 of the floor); random_forest: floor 82,377, batch 80,079 (0.97), online 83,333 / 54,966
(0.96 / 1.46), ceiling 78,384. Our server already spends about what a batch shard spends per
row for these models; "5x the online path" holds for neither model.

pyarrow on the plain numeric path (`batch.arrow`: C reader for a window, pyarrow's cast for a
numeric feature, lines joined by pyarrow with floats spelled as `repr` spells them; output
bytes unchanged). The code before (a `git archive` copy) and after, back to back, --rows
200,000 --skip-parallel, niced 10, load 6-11 (shared; each ratio from one run):

| rows/s per core             | LR before | LR after | RF before | RF after |
|-----------------------------|----------:|---------:|----------:|---------:|
| floor (library, in memory)  | 2,002,635 | 4,601,088 |    89,493 |   91,650 |
| batch (one shard, end to end) |  201,140 |  425,628 |    73,083 |   98,635 |
| batch / floor               |      0.10 |     0.09 |      0.82 |     1.08 |
| online, server CPU          |   344,828 |  370,370 |    77,821 |   85,837 |
| batch / online              |      0.58 |     1.15 |      0.94 |     1.15 |
| online, server + client CPU |    86,299 |  127,305 |    48,894 |   59,373 |
| batch / online+             |      2.33 |     3.34 |      1.49 |     1.66 |
| ceiling (pyarrow + predict) |   402,576 |  578,267 |    78,795 |   86,293 |
| batch / ceiling             |      0.50 |     0.74 |      0.93 |     1.14 |
| ceiling / floor             |      0.20 |     0.13 |      0.88 |     0.94 |

(The LR floor doubled between the two runs: the machine's load, not the code; batch / floor
is the ratio of one run. A second pair of runs: LR batch 200,802 -> 455,001, batch/ceiling
0.48 -> 0.83, batch/online 0.69 -> 1.16; RF batch 71,346 -> 93,339.) A cProfile of the
200,000-row logistic regression shard after: reading 25 % (pyarrow's parse and the hash),
output 33 % (`float_texts` 14 %: probabilities under 1e-4, which logistic regression gives
often, are spelled by `repr`; joining 7 %; labels 3 %; ids as `str` ~8 %), the serving decode
12 %, casting numeric text 8 %, writing the part and its digest 11 %, the estimator ~4 %.

What is reachable in CSV: for a model as cheap as logistic regression the C reader and writer
alone cost several times the model (the ceiling is 0.13-0.20 of the floor here), so "0.5 of
the floor" cannot be met by any CSV path on this machine, and "5x the online path" (our server
spends ~2.7 us of CPU a row, the JSON included) would need ~1.9 M rows/s, three times the
ceiling. The forest meets 0.5 of the floor (the model dominates); 5x online cannot hold for
it, since the server's cost is already the model's.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import serving_servers as servers
from sklearn.datasets import make_classification

from modelship.api.v1alpha1 import TrainingSnapshot
from modelship.batch import rows, steps, stream
from modelship.batch.settings import BatchSettings
from modelship.batch.targets import DirectoryTarget
from modelship.catalog import FileCatalog
from modelship.contracts.batch import BatchEnv
from modelship.serving.scoring import predict_request
from modelship.training.datasets import HttpLimits
from modelship.training.run import train
from modelship.training.settings import TrainerSettings

NAMESPACE = "bench"
FEATURES = [f"f{i}" for i in range(10)]
TRAIN_ROWS = 5_000
ONLINE_BATCH = 1_000
PARAMS: dict[str, dict[str, Any]] = {"random_forest": {"n_estimators": 100}}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000, help="rows scored (issue: 1e6)")
    parser.add_argument("--kinds", nargs="+", default=["logistic_regression", "random_forest"])
    parser.add_argument("--nice", type=int, default=0)
    parser.add_argument("--skip-parallel", action="store_true")
    args = parser.parse_args()
    if args.nice:
        os.nice(args.nice)
    work = Path(tempfile.mkdtemp(prefix="modelship-bench-batch-"))
    print(f"{args.rows} rows, {len(FEATURES)} features; niceness {os.nice(0)}; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    try:
        data, matrix = write_table(work, args.rows)
        print(f"input {data.stat().st_size / 1e6:.1f} MB")
        for kind in args.kinds:
            version = publish(work, kind)
            bench_kind(work, kind, version, data, matrix, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


def write_table(work: Path, n: int) -> tuple[Path, np.ndarray]:
    x, y = make_classification(n_samples=n, n_features=len(FEATURES), n_informative=6,
                               random_state=7)  # fmt: skip
    x = np.round(x, 6)
    path = work / "score.csv"
    with path.open("w") as out:
        out.write("id," + ",".join(FEATURES) + ",target\n")
        for i in range(n):
            out.write(f"r{i}," + ",".join(repr(v) for v in x[i].tolist()) + f",{y[i]}\n")
    train_csv = work / "train.csv"
    with path.open() as source, train_csv.open("w") as out:
        for _, line in zip(range(TRAIN_ROWS + 1), source, strict=False):
            out.write(line)
    return path, x


def publish(work: Path, kind: str) -> Any:
    root = work / "catalog"
    snapshot = TrainingSnapshot.model_validate(
        {
            "task": "classification",
            "dataset": {"uri": (work / "train.csv").as_uri(), "target": "target",
                        "features": FEATURES},
            "algorithm": {"name": kind, "params": PARAMS.get(kind, {})},
            "evaluation": {"seed": 3},
        }
    )  # fmt: skip
    catalog = FileCatalog(root)
    settings = TrainerSettings(model_name=kind.replace("_", "-"), namespace=NAMESPACE,
                               catalog_root=str(root))  # fmt: skip
    summary = train(snapshot, settings, catalog)
    return catalog.open_verified(NAMESPACE, kind.replace("_", "-"), summary.version)


def batch_settings(work: Path, version: Any, data: Path, out: Path, **fields: Any) -> BatchSettings:
    metadata = version.metadata
    values: dict[str, Any] = {"step": "shard", **fields}
    return BatchSettings(
        name="bench", namespace=NAMESPACE, model_name=metadata.model,
        version=metadata.version, digest=metadata.digest, approved=True,
        catalog_root=str(work / "catalog"), input_uri=data.as_uri(), id_column="id",
        output_dir=str(out), **values,
    )  # fmt: skip


def bench_kind(
    work: Path, kind: str, version: Any, data: Path, matrix: np.ndarray, args: Any
) -> None:
    n = len(matrix)
    estimator = version.load_model()
    started = time.process_time()
    estimator.predict(matrix)
    estimator.predict_proba(matrix)
    floor = n / (time.process_time() - started)

    out = work / f"out-{kind}"
    plan_settings = batch_settings(work, version, data, out, step="plan", rows_per_shard=n)
    started = time.process_time()
    planned = steps.plan(plan_settings)
    plan_rate = n / (time.process_time() - started)
    loaded = steps.load(plan_settings)

    window = stream.read_window(data.as_uri(), HttpLimits(1 << 34, 600.0), 0, n)
    documents = [
        rows.request_document(window.columns, FEATURES, s, min(s + ONLINE_BATCH, n), proba=True)
        for s in range(0, n, ONLINE_BATCH)
    ]
    del window
    started = time.process_time()
    for document in documents:
        predict_request(loaded, document, ONLINE_BATCH)
    serving = n / (time.process_time() - started)
    del documents

    shard = batch_settings(work, version, data, out, shard_index=0, rows_per_shard=n,
                           input_digest=planned.input_digest, shards=1)  # fmt: skip
    target = DirectoryTarget(out, steps.options(shard, str(planned.input_digest)))
    started = time.process_time()
    window = stream.read_window(shard.input_uri, steps.limits(shard), 0, n)
    gc.freeze()  # as steps.shard does before scoring
    record = steps.score_shard(shard, window, loaded, 0, target)
    batch = n / (time.process_time() - started)
    assert record.rows == n, record
    print(f"\n{kind}: rows/s per core (CPU time of this process)")
    print(f"  floor   {floor:12,.0f}  library predict + predict_proba on the in-memory array")
    print(f"  serving {serving:12,.0f}  serving code in-process, {ONLINE_BATCH}-row v2 documents")
    print(f"  batch   {batch:12,.0f}  one shard end to end (read, hash, decode, score, write)")
    print(f"  plan    {plan_rate:12,.0f}  the planner's pass (parse, count, hash)")
    print(f"  batch/floor {batch / floor:.2f}   batch/serving {batch / serving:.2f}")
    server_only, with_client = through_server(work, version, data, n)
    print(f"  online  {server_only:12,.0f}  our server over REST/JSON, {ONLINE_BATCH}-row "
          "requests, server CPU only")  # fmt: skip
    print(f"  online+ {with_client:12,.0f}  the same, server + client CPU (the client reads the "
          "CSV, encodes and decodes JSON)")  # fmt: skip
    print(f"  batch/online {batch / server_only:.2f} (server CPU)   "
          f"batch/online+ {batch / with_client:.2f} (server + client CPU)")  # fmt: skip
    read_write, hashed = ceiling(work, kind, version, data, n)
    print(f"  ceiling {read_write:12,.0f}  pyarrow read_csv (1 thread) + library predict "
          "+ pyarrow write_csv")  # fmt: skip
    print(f"  ceiling+{hashed:12,.0f}  the same + sha256 of the input (batch hashes it)")
    print(f"  batch/ceiling {batch / read_write:.2f}   ceiling/floor {read_write / floor:.2f}")
    if not args.skip_parallel:
        parallel(work, version, data, planned.input_digest, n)


def through_server(work: Path, version: Any, data: Path, n: int) -> tuple[float, float]:
    """The rows through our online server as a client sends them: the CSV read, 1,000-row v2
    documents (one FP64 tensor per feature) as JSON over one kept-alive HTTP connection, the
    answers (labels and probabilities) parsed. Rows/s per core of the server's CPU (its
    process tree, from /proc), and of server + client (this process's CPU over the loop)."""
    metadata = version.metadata
    port = servers.free_port()
    env = {
        "MODELSHIP_SERVING_MODEL_NAME": metadata.model,
        "MODELSHIP_SERVING_NAMESPACE": NAMESPACE,
        "MODELSHIP_SERVING_VERSION": str(metadata.version),
        "MODELSHIP_SERVING_CATALOG_ROOT": str(work / "catalog"),
        "MODELSHIP_SERVING_EXPECTED_DIGEST": metadata.digest,
        "MODELSHIP_SERVING_HOST": "127.0.0.1",
        "MODELSHIP_SERVING_PORT": str(port),
        "MODELSHIP_SERVING_GRPC_PORT": str(servers.free_port()),
        "MODELSHIP_SERVING_LOG_LEVEL": "warning",
    }
    base = f"http://127.0.0.1:{port}"
    server = servers.Server("online", [sys.executable, "-m", "modelship.serving"],
                            f"{base}/v2/health/ready", env, cpus="0,1")  # fmt: skip
    servers.start(server, work)
    try:
        servers.wait_ready(server)
        assert server.process is not None
        pids = servers.tree(server.process.pid)
        path = f"/v2/models/{metadata.model}/infer"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        parsing = rows.Parsing(frozenset(FEATURES), frozenset())
        server_before, client_before = servers.cpu_seconds(pids), time.process_time()
        window = stream.read_window(data.as_uri(), HttpLimits(1 << 34, 600.0), 0, n)
        answered = 0
        for s in range(0, n, ONLINE_BATCH):
            stop = min(s + ONLINE_BATCH, n)
            document = rows.request_document(window.columns, FEATURES, s, stop, proba=True,
                                             parsing=parsing)  # fmt: skip
            for tensor in document["inputs"]:
                tensor["data"] = tensor["data"].tolist()
            connection.request("POST", path, json.dumps(document).encode(),
                               {"Content-Type": "application/json"})  # fmt: skip
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200, body[:300]
            answer = json.loads(body)
            answered += answer["outputs"][0]["shape"][0]
        client = time.process_time() - client_before
        server_cpu = servers.cpu_seconds(pids) - server_before
        connection.close()
        assert answered == n, answered
    finally:
        servers.stop(server)
    return n / server_cpu, n / (server_cpu + client)


def ceiling(work: Path, kind: str, version: Any, data: Path, n: int) -> tuple[float, float]:
    """What C readers and writers give on the same file: pyarrow's CSV reader on one thread,
    the library's predict and predict_proba, pyarrow's CSV writer (id, prediction,
    probabilities, version), and the same with the input's sha256 (batch hashes all of it)."""
    estimator = version.load_model()
    out = work / f"ceiling-{kind}.csv"
    # pyarrow's first CSV write initialises something once per process (~1.3 s of CPU here):
    # paid before the clock starts, as a shard pays it once whatever its size.
    pacsv.write_csv(pa.table({"x": pa.array([0.5])}), work / "warm.csv")
    started = time.process_time()
    types = dict.fromkeys(FEATURES, pa.string()) | {"id": pa.string()}
    table = pacsv.read_csv(data, read_options=pacsv.ReadOptions(use_threads=False),
                           convert_options=pacsv.ConvertOptions(column_types=types))  # fmt: skip
    matrix = np.column_stack([pc.cast(table[f], pa.float64()).to_numpy() for f in FEATURES])
    labels = estimator.predict(matrix)
    proba = estimator.predict_proba(matrix)
    columns = {"id": table["id"], "prediction": pa.array(labels)}
    columns.update({f"proba_{i}": pa.array(proba[:, i]) for i in range(proba.shape[1])})
    columns["model_version"] = pa.array(np.full(n, version.metadata.version))
    pacsv.write_csv(pa.table(columns), out,
                    pacsv.WriteOptions(quoting_style="none"))  # fmt: skip
    read_write = time.process_time() - started
    started = time.process_time()
    with data.open("rb") as source:
        hashlib.file_digest(source, "sha256")
    hashing = time.process_time() - started
    assert table.num_rows == n
    return n / read_write, n / (read_write + hashing)


def parallel(work: Path, version: Any, data: Path, input_digest: str | None, n: int) -> None:
    """Two shards as worker processes: one after the other, then both at once."""
    half = -(-n // 2)
    rates = {}
    for parallelism in (1, 2):
        out = work / f"parallel-{version.metadata.model}-{parallelism}"
        env = BatchEnv.model_validate(
            batch_settings(work, version, data, out, rows_per_shard=half,
                           input_digest=input_digest, shards=2)
            .model_dump(include=set(BatchEnv.model_fields))
        )  # fmt: skip
        base = {**os.environ, **{e["name"]: e["value"] for e in env.to_env()},
                "MODELSHIP_BATCH_TERMINATION_MESSAGE_PATH": str(work / "report")}  # fmt: skip
        started = time.monotonic()
        running: list[subprocess.Popen[bytes]] = []
        for index in (0, 1):
            worker = subprocess.Popen(
                [sys.executable, "-m", "modelship.batch"],
                env={**base, "JOB_COMPLETION_INDEX": str(index)},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            running.append(worker)
            if parallelism == 1:
                worker.wait()
        codes = [worker.wait() for worker in running]
        elapsed = time.monotonic() - started
        assert codes == [0, 0], codes
        rates[parallelism] = n / elapsed
        print(f"  parallelism {parallelism}: {n / elapsed:10,.0f} rows/s wall "
              f"({elapsed:.1f} s for 2 shards, process start and model load included)")  # fmt: skip
    print(f"  parallelism 2 / 1: {rates[2] / rates[1]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
