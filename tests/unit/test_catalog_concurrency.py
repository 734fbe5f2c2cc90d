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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from modelship.catalog import FileCatalog
from support.factories import staged_version
from support.waiting import wait_for

NS, MODEL = "default", "shared"
TESTS = Path(__file__).resolve().parents[1]

# The child publishes the tests' smallest complete version (support/factories.py, on PYTHONPATH).
PUBLISHER = """
import json, sys, time
from pathlib import Path
from modelship.catalog import FileCatalog
from support.factories import staged_version

class Stall:
    '''Pickling it announces itself, then hangs: the publish is caught mid-staging.'''
    def __reduce__(self):
        Path(sys.argv[3]).write_text("staging")
        time.sleep(120)
        return (dict, ())

catalog = FileCatalog(Path(sys.argv[1]))
mode = sys.argv[2]
if mode == "stall":
    catalog.publish("default", "shared", staged_version(Stall()))
else:
    versions = [catalog.publish("default", "shared", staged_version({"n": i})).version
                for i in range(int(mode))]
    print(json.dumps(versions))
"""


def run_publisher(root: Path, mode: str, marker: Path | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", PUBLISHER, str(root), mode, str(marker or root / "unused")]
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


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
    staged = staged_version({"weights": [1, 2, 3]})

    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = list(pool.map(lambda _: catalog.publish(NS, MODEL, staged).version, range(16)))

    assert sorted(versions) == list(range(1, 17))
    assert catalog.version_numbers(NS, MODEL) == list(range(1, 17))


def test_a_killed_publish_leaves_no_version_and_its_debris_is_swept(tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    marker = tmp_path / "staging-started"
    process = run_publisher(root, "stall", marker)
    wait_for(marker.exists, timeout=30, interval=0.01, what=f"{marker} to appear")

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
