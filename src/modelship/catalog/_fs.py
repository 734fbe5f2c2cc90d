"""Durable, atomic filesystem primitives the file catalog is built from.

Kept apart from the catalog logic so each promise ("this write survives a power cut", "this
number is handed out once") is stated in one place and can be read on its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

READ_ONLY_FILE = 0o444
READ_ONLY_DIR = 0o555
WRITABLE_DIR = 0o755


def fsync_dir(path: Path) -> None:
    """Persist a directory's entries (a rename is durable only once its parent is synced)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write a new file and fsync it before returning."""
    with path.open("xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def replace_durably(path: Path, data: bytes) -> None:
    """Atomically replace `path` (temp file, fsync, rename, fsync parent)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    write_durably(tmp, data)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def make_read_only(directory: Path) -> None:
    """Published versions are immutable: files r--r--r--, the directory r-xr-xr-x."""
    for entry in directory.iterdir():
        entry.chmod(READ_ONLY_FILE)
    directory.chmod(READ_ONLY_DIR)


def remove_tree(directory: Path) -> None:
    """Delete a tree even when it was made read-only (entries of a r-x dir cannot be unlinked)."""
    if not directory.exists() or directory.is_symlink():
        directory.unlink(missing_ok=True)
        return
    directory.chmod(WRITABLE_DIR)
    for parent, dirnames, _files in os.walk(directory):
        for name in dirnames:
            child = Path(parent, name)
            if not child.is_symlink():
                child.chmod(WRITABLE_DIR)
    shutil.rmtree(directory)


@contextlib.contextmanager
def exclusive_lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an flock on `path` for the block; yields False if non-blocking and already held.

    flock is released by the kernel when the holder dies, so a killed process never leaves the
    lock behind.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        flags = fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def allocate_version(model_dir: Path) -> int:
    """Hand out the next version number exactly once, even across processes and deletions.

    The counter file remembers the highest number ever allocated, so pruned versions are never
    reused; taking the max with what is on disk keeps numbers unique even if the counter was lost.
    """
    with exclusive_lock(model_dir / ".lock"):
        counter = model_dir / ".last-version"
        try:
            last = int(counter.read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            last = 0
        on_disk = max((int(p.name) for p in model_dir.iterdir() if p.name.isdigit()), default=0)
        version = max(last, on_disk) + 1
        replace_durably(counter, f"{version}\n".encode("ascii"))
        return version
