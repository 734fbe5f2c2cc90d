"""Starting and stopping the dev cluster's long-running processes.

Each process runs in its own session (so its process group can be signalled as a whole and a
Ctrl-C in the terminal that started it does not reach it) with its output appended to a log file.
A `ProcessRecord` remembers the pid together with the process's start time, so a recycled pid is
never mistaken for one of ours when `down` runs much later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    start_time: int
    argv: tuple[str, ...]
    log: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_time=int(data["start_time"]),
            argv=tuple(data["argv"]),
            log=str(data["log"]),
        )


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of a process (clock ticks since boot), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; the fields after it are space-separated.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None  # a zombie has finished; only its parent's wait is missing
    return int(fields[19])


def is_alive(record: ProcessRecord) -> bool:
    return process_start_time(record.pid) == record.start_time


def spawn(
    name: str, argv: list[str], log: Path, env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ProcessRecord:  # fmt: skip
    """Start argv in a new session, stdout and stderr appended to log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    start = process_start_time(proc.pid)
    return ProcessRecord(name, proc.pid, start or 0, tuple(argv), str(log))


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{entry.path}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def is_running(record: ProcessRecord) -> bool:
    """The process, or anything left in its process group (a child it started), still runs.

    While a group has members the kernel does not hand its id out again, so a leftover member
    is ours even when the leader itself has gone."""
    return is_alive(record) or bool(group_members(record.pid))


def _signal_group(record: ProcessRecord, sig: signal.Signals) -> None:
    if not is_running(record):
        return
    try:
        os.killpg(record.pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(record.pid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(records: Iterable[ProcessRecord], grace: float = 10.0) -> None:
    """SIGTERM each process group, wait up to `grace` seconds, then SIGKILL what is left."""
    pending = [r for r in records if is_running(r)]
    for record in pending:
        _signal_group(record, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        for record in pending:
            _reap(record.pid)
        pending = [r for r in pending if is_running(r)]
        if pending:
            time.sleep(0.05)
    for record in pending:
        _signal_group(record, signal.SIGKILL)
    for record in pending:
        for _ in range(100):
            _reap(record.pid)
            if not is_running(record):
                break
            time.sleep(0.02)
