"""Datasets the live tests train on from a file:// URI."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from sklearn.datasets import load_iris


def write_iris(path: Path, rows: int) -> str:
    """The first `rows` iris rows as CSV; returns the digest the trainer and the probe compute."""
    iris = load_iris()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*(f"f{i}" for i in range(4)), "species"])
        for features, label in list(zip(iris.data, iris.target, strict=True))[:rows]:
            writer.writerow([*features, int(label)])
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
