"""Print how the environment running this script differs from uv.lock; exit 1 if it does.

`.ci/run` runs it after `make install`: what CI tests must be exactly what the lock names, not
what the registry served that day. Reads the lock through `uv export` (so platform markers are
uv's, evaluated here against this interpreter) and the environment through importlib.metadata.
Run it with the venv's python: `.venv/bin/python hack/lock-diff.py`.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# The venv's own installers: `make install` puts them there before the lock (uv by hash).
TOOLS = {"pip", "uv"}


def uv() -> Path:
    """The hash-pinned uv `make install` put in .venv (beside this interpreter, or the
    checkout's .venv when another environment runs this)."""
    for candidate in (Path(sys.executable).with_name("uv"), ROOT / ".venv" / "bin" / "uv"):
        if candidate.exists():
            return candidate
    raise SystemExit("no uv beside the interpreter or in .venv: run `make install`")


def locked(
    extras: tuple[str, ...] = ("dev", "onnx"), groups: tuple[str, ...] = ("build",)
) -> dict[str, str]:
    """name -> version of what the lock installs here with `extras` and `groups` (the project
    itself left out); markers are evaluated against this interpreter."""
    selection = [f for e in extras for f in ("--extra", e)] + [
        f for g in groups for f in ("--group", g)
    ]
    exported = subprocess.run(
        [str(uv()), "export", "--frozen", "--offline", *selection, "--no-hashes",
         "--no-emit-project", "--no-header", "--no-annotate"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    pins = {}
    for line in exported.splitlines():
        if not line.strip() or line.startswith(("#", "-")):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (specifier,) = requirement.specifier
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def installed() -> dict[str, str]:
    found = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name not in TOOLS and name != "modelship":
            found[name] = dist.version
    return found


def main() -> int:
    want, have = locked(), installed()
    lines = [
        f"- {name}=={want[name]}  (locked, not installed)"
        for name in sorted(want.keys() - have.keys())
    ]
    lines += [
        f"+ {name}=={have[name]}  (installed, not locked)"
        for name in sorted(have.keys() - want.keys())
    ]
    lines += [
        f"~ {name}: locked {want[name]}, installed {have[name]}"
        for name in sorted(want.keys() & have.keys())
        if want[name] != have[name]
    ]
    if lines:
        print("the environment differs from uv.lock:", *lines, sep="\n")
        return 1
    print(f"the environment is uv.lock: {len(want)} packages at their locked versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
