"""Free TCP ports on the loopback interface.

Every listener of a dev cluster takes a port the kernel reports free, so a second cluster (the
tests while a developer's cluster runs) never collides with the first. The sockets stay open until
all ports are chosen so one call never returns the same port twice.

Ports are chosen below the kernel's ephemeral range. A port the kernel hands out for `bind(0)`
comes from that range, which every outgoing connection also draws its local port from: between
choosing such a port and binding it, a client connection could take it (a fresh-clone `make
test`, with thousands of connections to two API servers, lost a test server's gRPC port so).
"""

from __future__ import annotations

import random
import socket
from contextlib import ExitStack
from pathlib import Path

LOOPBACK = "127.0.0.1"
# Where chosen ports start: above the well-known and most registered services' ports.
LOWEST = 20000
EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_start(source: Path = EPHEMERAL) -> int:
    """The first port the kernel gives outgoing connections (Linux's default when unknown)."""
    try:
        return int(source.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count: int, host: str = LOOPBACK, start: int | None = None) -> list[int]:
    """`count` distinct ports that were free a moment ago (the caller binds them soon after),
    below the ephemeral range when it leaves room there, else wherever the kernel offers."""
    top = ephemeral_start() if start is None else start
    candidates = random.sample(range(LOWEST, top), top - LOWEST) if top - LOWEST > count else []
    with ExitStack() as stack:
        ports: list[int] = []
        for port in [*candidates, *[0] * count]:
            if len(ports) == count:
                break
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((host, port))
            except OSError:
                continue
            ports.append(int(sock.getsockname()[1]))
        return ports


def is_listening(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    """Whether something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
