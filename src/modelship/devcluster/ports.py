"""Free TCP ports on the loopback interface.

Every listener of a dev cluster takes a port the kernel reports free, so a second cluster (the
tests while a developer's cluster runs) never collides with the first. The sockets stay open until
all ports are chosen so one call never returns the same port twice.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

LOOPBACK = "127.0.0.1"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct ports that were free a moment ago (the caller binds them soon after)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def is_listening(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    """Whether something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
