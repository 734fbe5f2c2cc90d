"""uv.lock is the lock of pyproject.toml: a dependency added, removed or re-ranged without
`make lock` fails here (and `make install`, whose `uv sync --locked` refuses such a lock)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def uv() -> str:
    """The hash-pinned uv `make install` put in .venv (the unlocked venv of `make test-unlocked`
    has none of its own)."""
    for candidate in (Path(sys.executable).with_name("uv"), ROOT / ".venv" / "bin" / "uv"):
        if candidate.exists():
            return str(candidate)
    raise AssertionError("no uv beside the interpreter or in .venv: run `make install`")


def lock_check(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [uv(), "lock", "--check", "--offline"], cwd=project,
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "HOME": str(project),
                                              "UV_PYTHON": sys.executable},
    )  # fmt: skip


def copy_project(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_the_lock_matches_pyproject(tmp_path: Path) -> None:
    result = lock_check(copy_project(tmp_path))
    assert result.returncode == 0, result.stderr


def test_a_dependency_added_without_make_lock_is_refused(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"pyyaml~=6.0",', '"pyyaml~=6.0",\n  "six>=1.16",', 1))
    assert lock_check(project).returncode != 0


def test_a_range_moved_without_make_lock_is_refused(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pyyaml~=6.0"', '"pyyaml>=5,<7"', 1))
    assert lock_check(project).returncode != 0


def test_every_locked_package_is_pinned_by_hash() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    for package in lock["package"]:
        if package["source"].get("editable") == ".":
            continue  # the project itself
        files = package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else [])
        assert files, f"{package['name']} has no distribution in the lock"
        assert all(f.get("hash", "").startswith("sha256:") for f in files), package["name"]
