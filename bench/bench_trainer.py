"""Wall time of `python -m modelship.training` as a pod runs it (interpreter start included).

Cases: builtin iris with random_forest, and a synthetic 100k-row CSV (20 numeric features, binary
target) with hist_gradient_boosting and random_forest.

    .venv/bin/python bench/bench_trainer.py

Seen on the 2-core dev VM: iris/random_forest 2.3 s; the 100k-row CSV (19 MB) 4.4 s with
hist_gradient_boosting and 63 s with random_forest (100 trees, one core: set n_jobs to use more).
Reading and checking the CSV takes ~1.5 s of that; the rest is the fit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import make_classification


def write_csv(path: Path, rows: int) -> None:
    x, y = make_classification(n_samples=rows, n_features=20, n_informative=8, random_state=0)
    header = ",".join([*(f"f{i}" for i in range(x.shape[1])), "label"])
    data = np.column_stack([x, y])
    np.savetxt(path, data, delimiter=",", header=header, comments="", fmt=["%.6f"] * 20 + ["%d"])


def train(workdir: Path, name: str, snapshot: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    env = {
        **os.environ,
        "MODELSHIP_TRAINING_SNAPSHOT": json.dumps(snapshot),
        "MODELSHIP_TRAINING_CATALOG_ROOT": str(workdir / "catalog"),
        "MODELSHIP_TRAINING_MODEL": name,
        "MODELSHIP_TRAINING_TERMINATION_MESSAGE_PATH": str(workdir / "termination-log"),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "modelship.training"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, json.loads(done.stdout)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as tmp:
        workdir = Path(tmp)
        csv = workdir / "synthetic-100k.csv"
        started = time.perf_counter()
        write_csv(csv, 100_000)
        print(
            f"wrote {csv.stat().st_size / 1e6:.1f} MB CSV in {time.perf_counter() - started:.1f}s"
        )
        cases = [
            ("iris", "builtin:iris", None, "random_forest"),
            ("csv-hgb", csv.as_uri(), "label", "hist_gradient_boosting"),
            ("csv-rf", csv.as_uri(), "label", "random_forest"),
        ]
        for name, uri, target, algorithm in cases:
            dataset = {"uri": uri, **({"target": target} if target else {})}
            snapshot = {
                "task": "classification",
                "dataset": dataset,
                "algorithm": {"name": algorithm},
            }
            seconds, summary = train(workdir, name, snapshot)
            print(
                f"{name:<8} {algorithm:<24} {seconds:6.1f}s  "
                f"accuracy={summary['metrics']['accuracy']:.3f}  version={summary['version']}"
            )


if __name__ == "__main__":
    main()
