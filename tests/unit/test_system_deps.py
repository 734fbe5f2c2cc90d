"""hack/install-system-deps.sh, which `make demo` and `make test` run every time: silent when
everything is installed, installs only what is missing as root, and names the one command to run
otherwise. dpkg-query, id and apt-get are stand-ins here; the script itself is the real one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "hack" / "install-system-deps.sh"

STUBS = {
    # installed unless named in $MISSING
    "dpkg-query": 'for p in $MISSING; do [ "$p" = "${@: -1}" ] && exit 1; done\n'
    'printf "install ok installed"',
    "id": 'echo "$FAKE_UID"',
    "apt-get": 'echo "apt-get $*" >> "$APT_LOG"',
}


def run_script(
    tmp_path: Path, *, uid: int, missing: str = ""
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    stubs = tmp_path / "bin"
    stubs.mkdir(parents=True, exist_ok=True)
    for name, body in STUBS.items():
        (stubs / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (stubs / name).chmod(0o755)
    log = tmp_path / "apt.log"
    env = {
        **os.environ,
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "MISSING": missing,
        "FAKE_UID": str(uid),
        "APT_LOG": str(log),
        "PYTHON": "true",
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


@pytest.mark.parametrize("uid", [0, 1000])
def test_nothing_happens_when_everything_is_installed(tmp_path: Path, uid: int) -> None:
    result, calls = run_script(tmp_path, uid=uid)
    assert (result.returncode, result.stdout, result.stderr, calls) == (0, "", "", [])


def test_without_root_it_names_what_is_missing_and_the_command_to_run(tmp_path: Path) -> None:
    result, calls = run_script(tmp_path, uid=1000, missing="docker-registry libgomp1")
    assert result.returncode == 1
    assert "missing: docker-registry libgomp1." in result.stderr
    assert "sudo make system-deps" in result.stderr
    assert calls == []


def test_as_root_it_installs_only_what_is_missing(tmp_path: Path) -> None:
    result, calls = run_script(tmp_path, uid=0, missing="prometheus iproute2")
    assert result.returncode == 0, result.stderr
    assert calls == [
        "apt-get update -q",
        "apt-get install -y -q --no-install-recommends iproute2 prometheus",
    ]


def _needed(library: Path) -> set[str]:
    """The DT_NEEDED entries of a shared library (what the dynamic loader must find)."""
    out = subprocess.run(
        ["ldd", str(library)], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return {line.split()[0] for line in out.splitlines() if "=>" in line}


def test_the_openmp_runtime_lightgbm_links_against_is_installed_everywhere() -> None:
    """LightGBM's wheel needs the system's libgomp.so.1 (python:3.11-slim lacks it); the xgboost-cpu
    wheel bundles its own. Both the image and the local node's host must install libgomp1."""
    import lightgbm
    import xgboost

    lightgbm_lib = Path(lightgbm.__file__).parent / "lib" / "lib_lightgbm.so"
    assert "libgomp.so.1" in _needed(lightgbm_lib)
    xgboost_lib = Path(xgboost.__file__).parent / "lib" / "libxgboost.so"
    assert not any(name == "libgomp.so.1" for name in _needed(xgboost_lib))
    root = SCRIPT.parents[1]
    dockerfile = (root / "Dockerfile").read_text().replace("\\\n", " ")
    installs = [line for line in dockerfile.splitlines() if "apt-get install" in line]
    assert any("libgomp1" in line.split() for line in installs), installs
    script = SCRIPT.read_text()
    packages = script.split("PACKAGES=(", 1)[1].split(")", 1)[0].split()
    assert "libgomp1" in packages
