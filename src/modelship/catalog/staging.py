"""Staging directories: where a version is assembled before it becomes visible.

A publish writes into `<model>/.staging-<token>/` and renames it to `<model>/<version>/` at the
end, so readers see a whole version or nothing. The publisher holds an flock on
`.staging-<token>.lock` while it works; a later publish or prune sweeps staging directories whose
lock nobody holds (their publisher died), so a killed trainer leaves no debris behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from modelship.catalog._fs import exclusive_lock, remove_tree

STAGING_PREFIX = ".staging-"
DELETING_PREFIX = ".deleting-"
_PENDING_PREFIX = ".pending-"
# A pending lock file lives for microseconds; one older than this was left by a crash.
_PENDING_MAX_AGE_SECONDS = 3600.0


@contextlib.contextmanager
def staging_directory(model_dir: Path) -> Iterator[Path]:
    """Yield a fresh, locked staging directory; remove it unless the caller renamed it away."""
    token = uuid.uuid4().hex
    lock_path = model_dir / f"{STAGING_PREFIX}{token}.lock"
    pending = model_dir / f"{_PENDING_PREFIX}{token}"
    # Lock under a name the sweeper ignores, then rename: the sweeper must never see a lock file
    # that is not yet held, or it could take it for an abandoned one.
    fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(pending, lock_path)
        stage = model_dir / f"{STAGING_PREFIX}{token}"
        stage.mkdir()
        try:
            yield stage
        finally:
            remove_tree(stage)
            lock_path.unlink(missing_ok=True)
    finally:
        os.close(fd)
        pending.unlink(missing_ok=True)


def sweep_abandoned(model_dir: Path) -> list[str]:
    """Remove staging and half-deleted directories left by dead processes; return their names."""
    removed: list[str] = []
    for entry in _entries(model_dir):
        name = entry.name
        if name.startswith(DELETING_PREFIX):
            # Prune deletes under the model lock; if it is busy, a prune is still at work.
            with exclusive_lock(model_dir / ".lock", blocking=False) as acquired:
                if acquired:
                    remove_tree(entry)
                    removed.append(name)
        elif name.startswith(STAGING_PREFIX) and not name.endswith(".lock"):
            lock_path = model_dir / f"{name}.lock"
            if not lock_path.exists():
                remove_tree(entry)
                removed.append(name)
                continue
            with exclusive_lock(lock_path, blocking=False) as acquired:
                if acquired:
                    remove_tree(entry)
                    lock_path.unlink(missing_ok=True)
                    removed.append(name)
        elif name.startswith(STAGING_PREFIX) and name.endswith(".lock"):
            if not (model_dir / name.removesuffix(".lock")).exists():
                with exclusive_lock(entry, blocking=False) as acquired:
                    if acquired:
                        entry.unlink(missing_ok=True)
        elif name.startswith(_PENDING_PREFIX) and _older_than(entry, _PENDING_MAX_AGE_SECONDS):
            entry.unlink(missing_ok=True)
    return removed


def _entries(model_dir: Path) -> list[Path]:
    try:
        return list(model_dir.iterdir())
    except FileNotFoundError:
        return []


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except FileNotFoundError:
        return False
