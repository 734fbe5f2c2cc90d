"""What the launcher needs to start one container process, as a JSON file."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

LAUNCHER = Path(__file__).with_name("launcher.py")


def kept_paths() -> list[str]:
    """What must stay visible inside every pod whatever its volumes cover: the project's
    virtualenv, the Python it is based on, and the project's own source (editable installs)."""
    import modelship

    source = Path(modelship.__file__).resolve().parents[1]
    return sorted({sys.prefix, sys.base_prefix, str(source)})


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    readOnly: bool  # noqa: N815 - the launcher reads the Kubernetes spelling


@dataclass(frozen=True)
class LaunchPlan:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    mounts: list[Mount]
    error_file: str
    keep: list[str]
    netns: str | None = None  # the pod's network namespace, entered before anything else

    def with_argv(self, argv: list[str], error_file: str) -> LaunchPlan:
        return replace(self, argv=argv, error_file=error_file)

    def write(self, path: Path) -> None:
        data: dict[str, Any] = asdict(self)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        path.chmod(0o600)  # the environment may hold Secret values


def launcher_argv(python: str, plan_path: Path) -> list[str]:
    # -I -S: standard library only, no site-packages scan: the launcher starts in milliseconds.
    return [python, "-I", "-S", str(LAUNCHER), str(plan_path)]
