"""Runs as each container process: private mount namespace, bind mounts, then exec.

The node starts `python -I -S launcher.py plan.json` in a new session. This script (standard
library only, so it starts in milliseconds) joins the pod's network namespace when it has one,
enters a private mount namespace, bind-mounts the
pod's volumes and the termination-message file at the paths the container spec names, changes
to the working directory and replaces itself with the container's command, keeping its pid.
Nothing is rewritten in the command line: `/var/run/secrets/kubernetes.io/serviceaccount/token`
is simply there. As root only a mount namespace is needed; otherwise a user namespace maps the
user to root inside it first. When neither works the error says so.

On failure before exec it writes the reason to the plan's `error_file` and exits 128 (setup),
127 (command not found) or 126 (not executable), which the node reports as `StartError`.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000


class SetupError(Exception):
    pass


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_void_p]  # fmt: skip
    return libc


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(code)}")


def enter_mount_namespace(libc: ctypes.CDLL) -> None:
    if libc.unshare(CLONE_NEWNS) != 0:
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
            raise SetupError(
                "cannot create a private mount namespace (needs root, or unprivileged user "
                f"namespaces): {os.strerror(ctypes.get_errno())}"
            )
        with open("/proc/self/setgroups", "w") as handle:
            handle.write("deny")
        with open("/proc/self/uid_map", "w") as handle:
            handle.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as handle:
            handle.write(f"0 {gid} 1")
    # Mounts made below must not propagate back to the host.
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")


def enter_network_namespace(libc: ctypes.CDLL, name: str) -> None:
    """Join the pod's network namespace (made by the node, named in /run/netns)."""
    path = f"/run/netns/{name}"
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(libc.setns(fd, CLONE_NEWNET), f"enter network namespace {path}")
    finally:
        os.close(fd)


def bind(libc: ctypes.CDLL, source: str, target: str, read_only: bool) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
        if not os.path.exists(target):
            with open(target, "a"):
                pass
    _check(libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None),
           f"bind {source} on {target}")  # fmt: skip
    if read_only:
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY
        _check(libc.mount(None, target.encode(), None, flags, None), f"read-only {target}")


def _fail(error_fd: int, code: int, message: str) -> None:
    print(f"modelship local node: {message}", file=sys.stderr, flush=True)
    try:
        os.write(error_fd, message.encode())
    finally:
        os._exit(code)


def _shadowed(path: str, targets: list[str]) -> bool:
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in targets)


def mount_all(libc: ctypes.CDLL, mounts: list[dict[str, object]], keep: list[str]) -> None:
    """Bind every volume, then re-expose the `keep` paths (the project's Python) it covered.

    Sources and kept paths are opened first and mounted through /proc/self/fd, so a volume at
    `/tmp` or `/work` cannot hide another volume's source or the interpreter the command needs.
    """
    opened = [(os.open(str(m["source"]), os.O_PATH), m) for m in mounts]
    kept = [(os.open(path, os.O_PATH), path) for path in keep if os.path.exists(path)]
    # Parents before children, so a volume mounted inside another one stays visible.
    for fd, mount in sorted(opened, key=lambda item: str(item[1]["target"]).count("/")):
        bind(libc, f"/proc/self/fd/{fd}", str(mount["target"]), bool(mount["readOnly"]))
    targets = [str(m["target"]) for m in mounts]
    for fd, path in kept:
        if _shadowed(path, targets):
            bind(libc, f"/proc/self/fd/{fd}", path, read_only=True)


def main(plan_path: str) -> None:
    with open(plan_path) as handle:
        plan = json.load(handle)
    # Opened before any mount can cover it; close-on-exec, so a started command never sees it.
    error_fd = os.open(plan["error_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        libc = _libc()
        if plan.get("netns"):
            enter_network_namespace(libc, plan["netns"])
        enter_mount_namespace(libc)
        mount_all(libc, plan["mounts"], plan["keep"])
        os.makedirs(plan["cwd"], exist_ok=True)
        os.chdir(plan["cwd"])
    except (SetupError, OSError) as error:
        _fail(error_fd, 128, str(error))
    argv, env = plan["argv"], plan["env"]
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as error:
        code = 127 if error.errno == errno.ENOENT else 126
        _fail(error_fd, code, f'exec: "{argv[0]}": {error.strerror}')


if __name__ == "__main__":
    main(sys.argv[1])
