"""The Gateway API's standard CRDs for the local cluster, from the `sigs.k8s.io/gateway-api` module.

Clusters that offer `traffic: gatewayAPI` have these CRDs installed (with an implementation
behind them); the local cluster installs the same definitions, so an HTTPRoute the operator
writes meets the real schema and its validation rules. They ship as YAML inside the module's zip
(`config/crd/standard/`), which `go mod download` fetches into the shared module cache and checks
against the checksum database, once per machine. Routing through a Gateway needs an
implementation and routed Services, which the local cluster does not have yet.

v1.7.0 is newer but needs Go 1.27 (`go mod download` refuses it with this Go); 1.6.3 is the newest
the machine's Go accepts and serves `gateway.networking.k8s.io/v1` HTTPRoutes as the operator
writes them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from modelship.devcluster.gocache import GoBuildSettings
from modelship.devcluster.progress import BinariesError, Progress, print_progress

MODULE = "sigs.k8s.io/gateway-api"
VERSION = "v1.6.3"
STANDARD_CRDS = Path("config") / "crd" / "standard"


def standard_crds(settings: GoBuildSettings, progress: Progress = print_progress) -> Path:
    """The directory of the standard channel's CRDs, downloading the module when needed."""
    target = f"{MODULE}@{VERSION}"
    cached = settings.mod_cache / f"{MODULE}@{VERSION}" / STANDARD_CRDS
    if cached.is_dir():
        return cached
    progress(f"downloading {target} (the Gateway API CRDs)")
    try:
        answer = subprocess.run(
            [settings.go, "mod", "download", "-json", target],
            cwd=settings.cache_root if settings.cache_root.is_dir() else None,
            env=settings.go_environment(os.environ),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BinariesError(f"cannot run `go mod download {target}`: {error}") from error
    try:
        found = json.loads(answer.stdout or "{}")
    except ValueError:
        found = {}
    if answer.returncode != 0 or "Dir" not in found:
        detail = found.get("Error") or (answer.stdout + answer.stderr).strip()[-1000:]
        raise BinariesError(f"downloading {target} failed: {detail}")
    directory = Path(found["Dir"]) / STANDARD_CRDS
    if not directory.is_dir():
        raise BinariesError(f"{target} has no {STANDARD_CRDS} directory")
    return directory
