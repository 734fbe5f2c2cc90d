"""Where a dev cluster keeps its files.

Everything a cluster owns lives under one directory, so two clusters (the tests' and a
developer's) never share a file, and `rm -r` of that directory forgets a cluster completely.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEV_DIR_ENV = "MODELSHIP_DEV_DIR"


def default_dev_dir() -> Path:
    """`$MODELSHIP_DEV_DIR`, else `./.modelship/dev` (what `make cluster-up` uses)."""
    configured = os.environ.get(DEV_DIR_ENV)
    return Path(configured) if configured else Path.cwd() / ".modelship" / "dev"


@dataclass(frozen=True)
class DevLayout:
    """The paths under one dev directory; creating the object touches nothing."""

    root: Path

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def pods(self) -> Path:
        """Per-pod runtime files (volumes, plans, termination messages, pid files)."""
        return self.root / "pods"

    @property
    def pod_logs(self) -> Path:
        """Container logs; kept after a pod is gone so failures can be read afterwards."""
        return self.logs / "pods"

    @property
    def volumes(self) -> Path:
        """Host directories backing provisioned PersistentVolumes."""
        return self.root / "volumes"

    @property
    def audit_log(self) -> Path:
        """The API server's audit log: who made which request (tests and benchmarks count them)."""
        return self.logs / "audit.log"

    @property
    def audit_policy(self) -> Path:
        return self.root / "audit-policy.yaml"

    def component_log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def create(self) -> None:
        for directory in (self.root, self.pki, self.logs, self.pods, self.pod_logs, self.volumes):
            directory.mkdir(parents=True, exist_ok=True)
        self.pki.chmod(0o700)
