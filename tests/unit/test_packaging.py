"""The runtime image carries only what production runs: no local cluster, no demo.

The Dockerfile copies the build context that `.dockerignore` lets through and runs
`pip install --no-deps .`; this test builds the same wheel from the same files, installs it into
a directory of its own, and imports every module in it with the checkout out of reach.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = ("modelship/devcluster/", "modelship/demo/")
# `python -m` entry points that do their work when imported rather than under a __main__ guard
RUN_ON_IMPORT = ("modelship.training.__main__", "modelship.cli.__main__")

IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
import modelship
for info in pkgutil.walk_packages(modelship.__path__, "modelship."):
    if info.name not in {run_on_import!r}:
        importlib.import_module(info.name)
missing = []
for name in ("modelship.devcluster", "modelship.demo"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        missing.append(name)
print(json.dumps({{
    "file": modelship.__file__,
    "modules": sorted(m for m in sys.modules if m.startswith("modelship")),
    "missing": missing,
}}))
"""


def build_context(target: Path) -> Path:
    """The files `.dockerignore` lets into the image build, copied as Docker would."""
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    assert allowed == ["pyproject.toml", "README.md", "src"], "update this test with the image"
    ignored = shutil.ignore_patterns("__pycache__", "*.py[cod]", "*.egg-info")
    for name in allowed:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignored)
        else:
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def runtime_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = build_context(tmp_path_factory.mktemp("context"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
         str(context)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (wheel,) = out.glob("modelship-*.whl")
    return wheel


def test_the_runtime_wheel_has_every_module_but_the_development_tools(runtime_wheel: Path) -> None:
    with zipfile.ZipFile(runtime_wheel) as archive:
        shipped = {n for n in archive.namelist() if n.startswith("modelship/")}
    in_tree = {
        path.relative_to(ROOT / "src").as_posix()
        for path in (ROOT / "src" / "modelship").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert not [n for n in shipped if n.startswith(DEV_ONLY)]
    runtime = {n for n in in_tree if not n.startswith(DEV_ONLY)}
    assert runtime - shipped == set(), "a runtime module is missing from the image"
    assert {"modelship/py.typed", "modelship/operator/__main__.py"} <= shipped
    assert len(in_tree - runtime) > 10  # the development tools are really there to leave out


def test_every_runtime_module_imports_without_the_development_tools(
    runtime_wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--target", str(site), str(runtime_wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # The installed copy comes first on the path; the checkout's src/ (the editable install)
    # could only be reached for a module the wheel lacks, and `missing` shows it is not.
    env = {**os.environ, "PYTHONPATH": str(site)}
    script = IMPORT_EVERYTHING.format(run_on_import=RUN_ON_IMPORT)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path,
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    found = json.loads(result.stdout)
    assert Path(found["file"]).is_relative_to(site)
    assert found["missing"] == ["modelship.devcluster", "modelship.demo"]
    assert "modelship.operator.handlers" in found["modules"]
    assert "modelship.serving.app" in found["modules"]

    usage = subprocess.run(
        [sys.executable, "-m", "modelship.cli", "--help"], env=env, cwd=tmp_path,
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    commands = re.findall(r"^    (\S+)", usage, flags=re.MULTILINE)  # one per command
    assert commands == ["crds", "catalog", "approve", "promote", "abort", "status", "wait"]
