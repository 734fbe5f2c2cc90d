"""Pid files of pod processes, so `dev down` stops every pod even if the node agent died.

Each container process (and exec probe) runs in its own session; its `ProcessRecord` is written
under the pod's runtime directory when it starts and removed when it has been reaped.
"""

from __future__ import annotations

import json
from pathlib import Path

from modelship.devcluster import processes
from modelship.devcluster.layout import DevLayout
from modelship.devcluster.processes import ProcessRecord


def pid_file(pod_dir: Path, name: str) -> Path:
    return pod_dir / "pids" / f"{name}.json"


def write_pid_file(pod_dir: Path, name: str, record: ProcessRecord) -> None:
    path = pid_file(pod_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.to_json()))


def remove_pid_file(pod_dir: Path, name: str) -> None:
    pid_file(pod_dir, name).unlink(missing_ok=True)


def recorded_processes(layout: DevLayout) -> list[ProcessRecord]:
    records = []
    for path in layout.pods.glob("*/pids/*.json"):
        try:
            records.append(ProcessRecord.from_json(json.loads(path.read_text())))
        except (OSError, ValueError, KeyError):
            continue
    return records


def kill_all_pods(layout: DevLayout, grace: float = 2.0) -> None:
    """Stop every recorded pod process of this dev directory (the node agent's safety net)."""
    processes.stop(recorded_processes(layout), grace=grace)
    for path in layout.pods.glob("*/pids/*.json"):
        path.unlink(missing_ok=True)
