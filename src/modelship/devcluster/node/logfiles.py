"""Where container logs live, and how `modelship dev logs` finds them.

Logs are files `<pod_logs>/<namespace>_<pod>_<uid>/<container>.<restart>.log`, one per run of a
container like a kubelet keeps them; they outlive the pod so a failed test can be read after.
"""

from __future__ import annotations

from pathlib import Path

from modelship.devcluster.layout import DevLayout


def pod_log_dir(layout: DevLayout, namespace: str, pod: str, uid: str) -> Path:
    return layout.pod_logs / f"{namespace}_{pod}_{uid}"


def container_log(log_dir: Path, container: str, restart: int) -> Path:
    return log_dir / f"{container}.{restart}.log"


def _runs(log_dir: Path, container: str) -> list[Path]:
    def restart_of(path: Path) -> int:
        return int(path.name.rsplit(".", 2)[1])

    runs = [p for p in log_dir.glob(f"{container}.*.log") if p.name.rsplit(".", 2)[1].isdigit()]
    return sorted(runs, key=restart_of)


def find_log(
    layout: DevLayout, namespace: str, pod: str, container: str | None, previous: bool = False
) -> Path:
    """The log of the newest pod of that name; raises LookupError saying what is missing."""
    candidates = sorted(
        layout.pod_logs.glob(f"{namespace}_{pod}_*"), key=lambda p: p.stat().st_mtime
    )
    if not candidates:
        raise LookupError(f"no logs for pod {namespace}/{pod} in {layout.pod_logs}")
    log_dir = candidates[-1]
    containers = sorted({p.name.rsplit(".", 2)[0] for p in log_dir.glob("*.log")})
    if container is None:
        if len(containers) != 1:
            raise LookupError(f"pod {pod} has containers {containers}; choose one with -c")
        container = containers[0]
    runs = _runs(log_dir, container)
    wanted = 2 if previous else 1
    if len(runs) < wanted:
        which = "previous" if previous else "any"
        raise LookupError(f"no {which} log of container {container} of pod {namespace}/{pod}")
    return runs[-wanted]
