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
    # the source index is there unless $NO_SOURCE_INDEX is set
    "apt-cache": '[ -z "$NO_SOURCE_INDEX" ] && printf "Package: kubernetes\\nVersion: 1.20.2\\n"',
}


def run_script(
    tmp_path: Path, *, uid: int, missing: str = "", deb_src: bool = True, index: bool = True
) -> tuple[subprocess.CompletedProcess[str], list[str], Path]:
    stubs, apt = tmp_path / "bin", tmp_path / "apt"
    stubs.mkdir(parents=True, exist_ok=True)
    (apt / "sources.list.d").mkdir(parents=True, exist_ok=True)
    if deb_src:
        (apt / "sources.list").write_text("deb-src http://deb.debian.org/debian bookworm main\n")
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
        "APT_ETC": str(apt),
        "PYTHON": "true",
        "NO_SOURCE_INDEX": "" if index else "1",
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls, apt


@pytest.mark.parametrize("uid", [0, 1000])
def test_nothing_happens_when_everything_is_installed(tmp_path: Path, uid: int) -> None:
    result, calls, _ = run_script(tmp_path, uid=uid)
    assert (result.returncode, result.stdout, result.stderr, calls) == (0, "", "", [])


def test_without_root_it_names_what_is_missing_and_the_command_to_run(tmp_path: Path) -> None:
    result, calls, _ = run_script(tmp_path, uid=1000, missing="etcd-server", deb_src=False)
    assert result.returncode == 1
    assert "etcd-server and a deb-src entry for bookworm" in result.stderr
    assert "sudo make system-deps" in result.stderr
    assert calls == []


def test_as_root_it_installs_only_what_is_missing(tmp_path: Path) -> None:
    result, calls, apt = run_script(tmp_path, uid=0, missing="etcd-server golang-go")
    assert result.returncode == 0, result.stderr
    assert calls == [
        "apt-get update -q",
        "apt-get install -y -q --no-install-recommends etcd-server golang-go",
    ]
    assert list((apt / "sources.list.d").iterdir()) == []  # deb-src was already there


def test_as_root_it_adds_the_source_entry_the_first_build_needs(tmp_path: Path) -> None:
    result, calls, apt = run_script(tmp_path, uid=0, deb_src=False)
    assert result.returncode == 0, result.stderr
    assert calls == ["apt-get update -q"]
    entry = (apt / "sources.list.d" / "modelship-deb-src.sources").read_text()
    assert "Types: deb-src" in entry and "Suites: bookworm" in entry


def test_an_entry_whose_index_was_never_fetched_is_fetched_as_root(tmp_path: Path) -> None:
    result, calls, _ = run_script(tmp_path, uid=0, index=False)
    assert (result.returncode, calls) == (0, ["apt-get update -q"])
    result, calls, _ = run_script(tmp_path / "user", uid=1000, index=False)
    assert result.returncode == 1 and "(apt-get update)" in result.stderr and calls == []


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
