"""Publishing from several processes at once, and a publisher killed half-way.

Real processes (not threads) because that is what two trainer pods sharing a volume are: the
version counter's lock must hold across processes, and a SIGKILL gives no chance to clean up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from modelship.catalog import (
    AcceptanceSet,
    AlgorithmInfo,
    DatasetInfo,
    FeatureInfo,
    FeatureProfile,
    FileCatalog,
    Profile,
    StagedVersion,
    TargetInfo,
)

NS, MODEL = "default", "shared"

# A tiny but complete StagedVersion; `model` is whatever PAYLOAD evaluates to in the child.
PUBLISHER = """
import json, sys, time
from pathlib import Path
from modelship.catalog import (AcceptanceSet, AlgorithmInfo, DatasetInfo, FeatureInfo,
    FeatureProfile, FileCatalog, Profile, StagedVersion, TargetInfo)

class Stall:
    '''Pickling it announces itself, then hangs: the publish is caught mid-staging.'''
    def __reduce__(self):
        Path(sys.argv[3]).write_text("staging")
        time.sleep(120)
        return (dict, ())

def staged(model):
    return StagedVersion(
        model=model, task="regression", algorithm=AlgorithmInfo(name="ridge"),
        dataset=DatasetInfo(uri="builtin:diabetes", digest="sha256:0", rows=1),
        features=[FeatureInfo(name="x")], target=TargetInfo(name="y"),
        acceptance=AcceptanceSet(features=["x"], inputs=[[1.0]], targets=[2.0]),
        profile=Profile(features=[FeatureProfile(name="x", edges=[0.0, 1.0], frequencies=[1.0])]),
    )

catalog = FileCatalog(Path(sys.argv[1]))
mode = sys.argv[2]
if mode == "stall":
    catalog.publish("default", "shared", staged(Stall()))
else:
    versions = [catalog.publish("default", "shared", staged({"n": i})).version
                for i in range(int(mode))]
    print(json.dumps(versions))
"""


def run_publisher(root: Path, mode: str, marker: Path | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", PUBLISHER, str(root), mode, str(marker or root / "unused")]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.01)


def test_concurrent_processes_get_distinct_versions(tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    processes = [run_publisher(root, "10") for _ in range(3)]

    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.extend(json.loads(out))

    assert sorted(results) == list(range(1, 31))
    catalog = FileCatalog(root)
    assert catalog.version_numbers(NS, MODEL) == list(range(1, 31))
    assert all(catalog.verify(NS, MODEL, v) for v in range(1, 31))


def test_concurrent_threads_get_distinct_versions(tmp_path: Path) -> None:
    """flock is per open file, so threads of one process exclude each other too."""
    catalog = FileCatalog(tmp_path / "catalog")
    staged = StagedVersion(
        model={"weights": [1, 2, 3]},
        task="regression",
        algorithm=AlgorithmInfo(name="ridge"),
        dataset=DatasetInfo(uri="builtin:diabetes", digest="sha256:0", rows=1),
        features=[FeatureInfo(name="x")],
        target=TargetInfo(name="y"),
        acceptance=AcceptanceSet(features=["x"], inputs=[[1.0]], targets=[2.0]),
        profile=Profile(features=[FeatureProfile(name="x", edges=[0.0, 1.0], frequencies=[1.0])]),
    )

    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = list(pool.map(lambda _: catalog.publish(NS, MODEL, staged).version, range(16)))

    assert sorted(versions) == list(range(1, 17))
    assert catalog.version_numbers(NS, MODEL) == list(range(1, 17))


def test_a_killed_publish_leaves_no_version_and_its_debris_is_swept(tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    marker = tmp_path / "staging-started"
    process = run_publisher(root, "stall", marker)
    wait_for(marker)

    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    catalog = FileCatalog(root)
    model_dir = root / NS / MODEL
    assert catalog.version_numbers(NS, MODEL) == []
    assert catalog.list_versions(NS, MODEL) == []
    debris = [p.name for p in model_dir.iterdir() if p.name.startswith(".staging-")]
    assert debris, "the killed publisher should have been caught while staging"

    survivor = run_publisher(root, "1")
    out, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err

    assert json.loads(out) == [1]
    assert [p.name for p in model_dir.iterdir() if p.name.startswith(".staging-")] == []
