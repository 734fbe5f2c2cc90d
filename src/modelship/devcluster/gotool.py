"""Running the `go` command for a build: checked first, logged, niced, with a heartbeat.

A Kubernetes build runs for minutes with nothing on the terminal: every step's output goes to
one log file per cache entry, a line is printed every 30 s while a step runs and one with its
time when it ends, and a failure names the step and the log.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelship.devcluster.gocache import GoBuildSettings
from modelship.devcluster.gomodules import go_is_new_enough
from modelship.devcluster.progress import BinariesError, Progress

GO_INSTALL_HINT = "install it from https://go.dev/dl/ and put its bin/ on PATH, or set MODELSHIP_GO"
HEARTBEAT_SECONDS = 30
# The commands that have no --version flag.
VERSION_ARGUMENTS = {
    "kubectl": ["version", "--client"],
    "etcdctl": ["version"],
    "coredns": ["-version"],
    "traefik": ["version"],
}


@dataclass(frozen=True)
class GoRun:
    """The go commands of one build: its settings, progress, log file and environment."""

    settings: GoBuildSettings
    progress: Progress
    log: Path
    env: Mapping[str, str]

    def run(self, cmd: Sequence[str], cwd: Path, what: str) -> None:
        """Run one step, niced, with its output appended to the log and a heartbeat meanwhile."""
        nice = ["nice", "-n", str(self.settings.nice)] if shutil.which("nice") else []
        argv = [*nice, *cmd]
        started = time.monotonic()
        with self.log.open("a") as out:
            out.write(f"\n### {what}: {shlex.join(argv)}\n")
            out.flush()
            proc = subprocess.Popen(
                argv, cwd=cwd, env=dict(self.env), stdout=out, stderr=subprocess.STDOUT
            )
            while True:
                try:
                    code = proc.wait(timeout=HEARTBEAT_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    self.progress(f"  … {what}: {int(time.monotonic() - started)}s")
        if code != 0:
            tail = self.log.read_text(errors="replace").splitlines()[-15:]
            raise BinariesError(
                f"{what} failed (exit {code}); the whole output is in {self.log}; last lines:\n"
                + "\n".join(tail)
            )
        self.progress(f"{what}: {int(time.monotonic() - started)}s")

    def go_build(self, module: Path, package: str, output: Path, ldflags: str, name: str) -> None:
        self.run(
            [
                self.settings.go,
                "build",
                "-p",
                str(self.settings.jobs),
                "-trimpath",
                "-ldflags",
                ldflags,
                "-o",
                str(output),
                package,
            ],
            module,
            f"compiling {name}",
        )


def require_go(go: str, required: str, what: str, env: Mapping[str, str]) -> str:
    """The local Go's version, when `go` exists and satisfies the module's `go` line."""
    path = shutil.which(go)
    if path is None:
        raise BinariesError(
            f"cannot build {what}: `{go}` is not on PATH and the build needs Go {required} or "
            f"newer; {GO_INSTALL_HINT}"
        )
    answer = subprocess.run(
        [path, "env", "GOVERSION"], capture_output=True, text=True, env=dict(env), check=False
    )
    installed = answer.stdout.strip()
    if answer.returncode != 0 or not go_is_new_enough(installed, required):
        found = installed or answer.stderr.strip() or f"exit {answer.returncode}"
        raise BinariesError(
            f"cannot build {what}: {path} is {found}, the module needs Go {required} or newer "
            f"(its go.mod's `go` line); {GO_INSTALL_HINT}"
        )
    return installed


def start_build(entry: Path, settings: GoBuildSettings, progress: Progress) -> GoRun:
    """A fresh log for the build of `entry`, in `logs/` beside the cache entries."""
    log = settings.cache_root / "logs" / f"{entry.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    return GoRun(settings, progress, log, settings.go_environment(os.environ))


def download_module(build: GoRun, module: Path, target: str) -> Path:
    """Download one module version into GOMODCACHE and return its directory there."""
    started = time.monotonic()
    answer = subprocess.run(
        [build.settings.go, "mod", "download", "-json", target],
        cwd=module,
        env=dict(build.env),
        capture_output=True,
        text=True,
        check=False,
    )
    with build.log.open("a") as out:
        out.write(f"\n### downloading {target}\n{answer.stdout}{answer.stderr}")
    if answer.returncode != 0:
        raise BinariesError(
            f"downloading {target} failed (exit {answer.returncode}); the whole output is in "
            f"{build.log}:\n{(answer.stdout + answer.stderr).strip()[-2000:]}"
        )
    build.progress(f"downloading {target}: {int(time.monotonic() - started)}s")
    return Path(json.loads(answer.stdout)["Dir"])


def reported_version(name: str, binary: Path) -> str:
    """What a built binary says its version is, on one line."""
    cmd = [str(binary), *VERSION_ARGUMENTS.get(name, ["--version"])]
    try:
        answer = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"(cannot run: {error})"
    lines = [line.strip() for line in (answer.stdout or answer.stderr).splitlines() if line.strip()]
    return "; ".join(lines) or f"(no output, exit {answer.returncode})"
