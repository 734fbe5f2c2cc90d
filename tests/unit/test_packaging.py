"""The runtime image carries exactly the lock's runtime set and what production runs: no local
cluster, no demo, no test or build tools.

The Dockerfile copies the build context that `.dockerignore` lets through and installs it with
the `uv` steps of its build stage; this test runs those same steps, read from the Dockerfile, on
the same files into a virtualenv of its own (offline, from the cache `make install` filled), and
imports every module in it with the checkout out of reach.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# hack/lock-diff.py reads the lock the way `.ci/run` checks the environment against it.
_spec = importlib.util.spec_from_file_location("lock_diff", ROOT / "hack" / "lock-diff.py")
assert _spec is not None and _spec.loader is not None
LOCK = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(LOCK)
IMAGE_VENV = "/opt/modelship"
DEV_ONLY = ("modelship/devcluster/", "modelship/demo/")
# `python -m` entry points that do their work when imported rather than under a __main__ guard
RUN_ON_IMPORT = ("modelship.training.__main__", "modelship.cli.__main__")

IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
from importlib import metadata
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
    "files": [str(f) for f in metadata.files("modelship")],
    "distributions": {{d.metadata["Name"].lower(): d.version for d in metadata.distributions()}},
}}))
"""


def build_context(target: Path) -> Path:
    """The files `.dockerignore` lets into the image build, copied as Docker would."""
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    assert allowed == [
        "pyproject.toml",
        "uv.lock",
        "hack/uv-requirements.txt",
        "README.md",
        "src",
    ], "update this test with the image"
    ignored = shutil.ignore_patterns("__pycache__", "*.py[cod]", "*.egg-info")
    for name in allowed:
        source, copy = ROOT / name, target / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, copy, ignore=ignored)
        else:
            shutil.copy2(source, copy)
    return target


def build_stage_uv_commands() -> list[list[str]]:
    """Every `uv ...` command of the Dockerfile's RUN lines, in order."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        if line.startswith("RUN "):
            for command in line.removeprefix("RUN ").split("&&"):
                words = shlex.split(command)
                if words and words[0] == "uv":
                    commands.append(words)
    assert len(commands) >= 2, "the Dockerfile no longer installs with uv: update this test"
    return commands


@pytest.fixture(scope="module")
def image_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The build stage's virtualenv, made by its own commands, and what it holds."""
    context = build_context(tmp_path_factory.mktemp("context"))
    venv = tmp_path_factory.mktemp("image") / "venv"
    uv = str(LOCK.uv())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))},
        "UV_OFFLINE": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON": sys.executable,
    }
    for words in build_stage_uv_commands():
        command = [uv] + [w.replace(IMAGE_VENV, str(venv)) for w in words[1:]]
        subprocess.run(command, cwd=context, env=env, check=True, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    # The image's python sees only its own venv: no PYTHONPATH, and run away from the checkout.
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = IMPORT_EVERYTHING.format(run_on_import=RUN_ON_IMPORT)
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script], env=plain, cwd=venv,
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    found: dict[str, object] = json.loads(result.stdout)
    found["venv"] = str(venv)
    return found


def test_the_image_has_every_runtime_module_but_the_development_tools(
    image_env: dict[str, object],
) -> None:
    shipped = {f for f in image_env["files"] if f.startswith("modelship/")}
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
    image_env: dict[str, object],
) -> None:
    assert Path(str(image_env["file"])).is_relative_to(str(image_env["venv"]))
    assert image_env["missing"] == ["modelship.devcluster", "modelship.demo"]
    assert "modelship.operator.handlers" in image_env["modules"]
    assert "modelship.serving.app" in image_env["modules"]

    python = str(Path(str(image_env["venv"])) / "bin" / "python")
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    usage = subprocess.run(
        [python, "-m", "modelship.cli", "--help"], env=plain, cwd=str(image_env["venv"]),
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    commands = re.findall(r"^    (\S+)", usage, flags=re.MULTILINE)  # one per command
    assert commands == ["crds", "catalog", "approve", "promote", "abort", "status", "wait"]


def test_the_image_holds_the_locked_runtime_set_and_no_tools(image_env: dict[str, object]) -> None:
    """Exactly the lock's runtime set, at the lock's versions; nothing that builds, tests or
    installs."""
    image = dict(image_env["distributions"])
    assert image.pop("modelship") == "0.1.0"
    for tool in ("pip", "uv", "setuptools", "pytest", "grpcio-tools", "ruff", "mypy"):
        assert tool not in image, f"{tool} is in the image"
    for runtime in ("kopf", "scikit-learn", "grpcio", "protobuf", "fastapi", "skops"):
        assert runtime in image
    image = {canonicalize_name(name): version for name, version in image.items()}
    assert image == LOCK.locked(extras=(), groups=()), "the image is not the lock's runtime set"
