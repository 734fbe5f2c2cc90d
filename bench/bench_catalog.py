"""What the catalog's guarantees cost, per backend, against a plain joblib dump/load in one run.

Publish (volume) = stage in a temp dir, skops-serialise, fsync every file, digest, allocate the
version under a lock, write metadata, chmod read-only, atomic rename, fsync the parent.
Publish (registry) = skops-serialise, push every blob to a local Distribution registry
(docker-registry, plain HTTP on loopback), allocate the number from the tags, put the manifest and
the counter. Read = pull/verify every digest, then load the skops artifact against the allowlist.
The baseline writes and reads the same estimator with `joblib.dump` / `joblib.load` and nothing
else (no fsync, no safety: what people do by default). Models: a ~2 MB random forest and a ~50 MB
nearest-neighbours index (it stores its training rows, so its size is chosen exactly).

    .venv/bin/python bench/bench_catalog.py [--repeat N] [--dir PATH]

Seen on the 2-core dev VM (ext4 on virtio, medians of 5, load average ~9 from other jobs, so
+-2x between runs): 2 MB skops forest -- publish volume 92 ms / registry 248 ms, verified load
94 / 371 ms; 50 MB skops nearest-neighbours -- publish 649 / 924 ms, load 297 / 861 ms (registry /
volume x1.4-2.7 to publish, x2.9-4.0 to load: HTTP round trips per file and a copy to disk).
skops itself costs against joblib: a verified load of the 2 MB forest is ~3x a bare joblib.load.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier

from modelship.catalog import (
    MODEL_FILE,
    AcceptanceSet,
    AlgorithmInfo,
    Catalog,
    DatasetInfo,
    FeatureInfo,
    FeatureProfile,
    FileCatalog,
    OciCatalog,
    Profile,
    StagedVersion,
    TargetInfo,
    open_catalog,
)
from modelship.devcluster import processes, registry


def staged(model: Any, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> StagedVersion:
    names = [f"f{i}" for i in range(x.shape[1])]
    return StagedVersion(
        model=model,
        task="classification",
        algorithm=AlgorithmInfo(name="bench"),
        dataset=DatasetInfo(uri="builtin:bench", digest="sha256:0", rows=len(y)),
        features=[FeatureInfo(name=n) for n in names],
        target=TargetInfo(name="y", classes=sorted(set(y.tolist()))),
        acceptance=AcceptanceSet(features=names, inputs=x[:500].tolist(), targets=y[:500].tolist()),
        profile=Profile(
            features=[
                FeatureProfile(
                    name=n, edges=np.linspace(-5, 5, 11).tolist(), frequencies=[0.1] * 10
                )
                for n in names
            ]
        ),
    )


def median_seconds(action: Callable[[int], object], repeat: int) -> float:
    samples = []
    for i in range(repeat):
        started = time.perf_counter()
        action(i)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench(
    label: str,
    model: Any,
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    repeat: int,
    workdir: Path,
    catalogs: dict[str, Catalog],
) -> None:
    plain = workdir / f"{label}-plain"
    plain.mkdir()
    version = staged(model, x, y)
    dump = median_seconds(lambda i: joblib.dump(model, plain / f"{i}.joblib"), repeat)
    load = median_seconds(lambda i: joblib.load(plain / f"{i}.joblib"), repeat)
    size = (plain / "0.joblib").stat().st_size
    print(
        f"{label}: joblib {size / 1e6:.1f} MB  dump {dump * 1e3:.1f} ms  load {load * 1e3:.1f} ms"
    )
    times: dict[str, tuple[float, float]] = {}
    for backend, catalog in catalogs.items():
        publish, read = measure(catalog, label, version, repeat)
        times[backend] = (publish, read)
        print(
            f"  {backend:<9} publish {publish * 1e3:8.1f} ms (x{publish / dump:5.1f} joblib)   "
            f"verified load {read * 1e3:8.1f} ms (x{read / load:5.1f} joblib)"
        )
    volume = catalogs.get("volume")
    if isinstance(volume, FileCatalog):
        artifact = volume.root / "bench" / label / "1" / MODEL_FILE
        print(f"  skops artifact {artifact.stat().st_size / 1e6:.1f} MB")
    if {"volume", "registry"} <= set(times):
        (vp, vr), (rp, rr) = times["volume"], times["registry"]
        print(f"  registry / volume: publish x{rp / vp:.2f}, load x{rr / vr:.2f}")


def measure(
    catalog: Catalog, label: str, version: StagedVersion, repeat: int
) -> tuple[float, float]:
    """Median publish and verified-load (pinned, as serving reads it) seconds."""
    first = len(catalog.version_numbers("bench", label)) + 1
    publish = median_seconds(lambda i: catalog.publish("bench", label, version), repeat)
    pins = {n: catalog.artifact_uri("bench", label, n) for n in range(first, first + repeat)}
    read = median_seconds(
        lambda i: catalog.open_verified(
            "bench", label, first + i, pinned=pins[first + i]
        ).load_model(),
        repeat,
    )
    return publish, read


@contextlib.contextmanager
def local_registry(directory: Path) -> Iterator[str]:
    """Debian's docker-registry on a loopback port, as the local cluster runs it."""
    files = registry.RegistryFiles(directory)
    record = processes.spawn("registry", registry.prepare(files), directory / "registry.log")
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(Exception):
                if registry.ready(files):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the registry did not start")
            time.sleep(0.1)
        yield files.catalog_file.read_text().strip()
    finally:
        processes.stop([record])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", help="where to write (fsync cost depends on the filesystem)")
    args = parser.parse_args()
    x_forest, y_forest = make_classification(n_samples=5000, n_features=20, random_state=0)
    rng = np.random.default_rng(0)
    x_knn = rng.normal(size=(300_000, 20))
    y_knn = (x_knn[:, 0] > 0).astype(int)
    models = [
        (
            "forest-2mb",
            RandomForestClassifier(n_estimators=50, random_state=0).fit(x_forest, y_forest),
            x_forest,
            y_forest,
        ),
        ("knn-50mb", KNeighborsClassifier().fit(x_knn, y_knn), x_knn[:2000], y_knn[:2000]),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-catalog-", dir=args.dir) as tmp:
        root = Path(tmp)
        with local_registry(root / "registry") as uri:
            oci = open_catalog(uri)
            assert isinstance(oci, OciCatalog)
            oci.pull_dir = root / "pulled"  # pulled copies stay inside the temp dir
            oci.pull_dir.mkdir()
            catalogs: dict[str, Catalog] = {"volume": FileCatalog(root / "volume"), "registry": oci}
            print(f"median of {args.repeat}; temp dir on {tmp}; registry {uri}")
            for label, model, x, y in models:
                bench(label, model, x, y, args.repeat, root, catalogs)


if __name__ == "__main__":
    main()
