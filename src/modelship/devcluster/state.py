"""The state file of a dev cluster: which processes it started and on which ports.

It is what lets `down` (in another process, maybe days later) stop exactly what `up` started, and
lets a restarted cluster reuse its ports so kubeconfigs handed out earlier keep working.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from modelship.devcluster.controlplane import Ports
from modelship.devcluster.processes import ProcessRecord


@dataclass
class ClusterState:
    ports: Ports | None = None
    processes: dict[str, ProcessRecord] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ClusterState:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        ports = Ports(**data["ports"]) if data.get("ports") else None
        processes = {
            name: ProcessRecord.from_json(record)
            for name, record in data.get("processes", {}).items()
        }
        return cls(ports, processes)

    def save(self, path: Path) -> None:
        data = {
            "ports": vars(self.ports) if self.ports else None,
            "processes": {name: record.to_json() for name, record in self.processes.items()},
        }
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(data, indent=2) + "\n")
        partial.replace(path)
