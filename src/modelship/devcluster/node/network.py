"""Pod addresses and pod network namespaces, in a private range local to this machine.

Every pod gets an address of its own, reported as `status.podIP`. Kubernetes refuses loopback
addresses (127.0.0.0/8) in EndpointSlices, so the node takes its addresses from the cluster's
`10.<n>.0.0/17` (servicenet.AddressPlan). As root, on a cluster whose service network exists,
each pod gets a network namespace of its own (`modelship<n>-<x>-<y>`, after its address) with
one veth whose other end is on the bridge `cbr0` inside the cluster's service namespace; its
default route is the bridge's address. The pod's processes enter the namespace before exec
(launcher.py), so ports never collide and a process sees only its own pod's sockets. Routes,
the unreachable /16 and why no packet can leave the machine: servicenet.py.

Without the right to build namespaces (not root), the node falls back to loopback addresses
`127.<n>.x.y` in the host's network: pods still run and talk, but no EndpointSlice can hold them.
"""

from __future__ import annotations

import contextlib
import logging
import random
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
Run = Callable[[Sequence[str]], None]
# 10.<n>.0.0/16 per cluster; the low octets are left to whatever else a machine has in 10/8.
OCTETS = range(100, 255)
POD_BRIDGE = "cbr0"  # in the cluster's service namespace (servicenet.py)
ONLINK = ("dev", "eth0", "onlink")  # the gateway is on the link though no prefix covers it
# Pods take the lower half of the /16 (`10.<n>.0.0/17`); servicenet.AddressPlan has the rest.
POD_ADDRESSES = 254 * 128


def pick_subnet_octet(rng: random.Random | None = None, taken: set[int] | None = None) -> int:
    """A second octet for the cluster's /16, not one another cluster on the machine uses."""
    free = [n for n in OCTETS if n not in (taken or set())]
    if not free:
        raise RuntimeError("every 10.<n>.0.0/16 of 10.100-10.254 is in use on this machine")
    return (rng or random.Random()).choice(free)


class AddressAllocator:
    """Hands out `<prefix>.x.y` addresses, never one still in use, reusing freed ones last."""

    def __init__(self, first: int, octet: int) -> None:
        if not 1 <= octet <= 254:
            raise ValueError(f"second octet {octet} is outside 1..254")
        self.prefix = f"{first}.{octet}"
        self._next = 1
        self._in_use: set[str] = set()

    def _address(self, index: int) -> str:
        return f"{self.prefix}.{index // 254}.{index % 254 + 1}"

    def allocate(self) -> str:
        for _ in range(POD_ADDRESSES):
            address = self._address(self._next)
            self._next = self._next + 1 if self._next < POD_ADDRESSES - 1 else 1
            if address not in self._in_use:
                self._in_use.add(address)
                return address
        raise RuntimeError("no free address for a pod")

    def release(self, address: str) -> None:
        self._in_use.discard(address)


@dataclass(frozen=True)
class BridgeCommands:
    """The bridge an earlier node release kept pod addresses on, to remove after it."""

    octet: int

    @property
    def bridge(self) -> str:
        return f"modelship{self.octet}"

    def remove(self) -> list[list[str]]:
        return [
            ["ip", "link", "del", self.bridge],
            ["ip", "route", "del", "unreachable", f"10.{self.octet}.0.0/16"],
        ]


@dataclass(frozen=True)
class PodAddress:
    ip: str
    netns: str | None  # the pod's network namespace (/run/netns/<name>), None on loopback


@dataclass(frozen=True)
class PodNamespaceCommands:
    """The `ip` commands that give one pod its namespace and veth (pure, so unit-tested)."""

    octet: int
    ip: str

    @property
    def node_namespace(self) -> str:
        return f"modelship{self.octet}"

    @property
    def netns(self) -> str:
        _, _, x, y = self.ip.split(".")
        return f"modelship{self.octet}-{x}-{y}"

    @property
    def veth(self) -> str:
        _, _, x, y = self.ip.split(".")
        return f"vp{x}x{y}"

    def add(self) -> list[list[str]]:
        node, pod = self.node_namespace, self.netns
        peer = ["peer", "name", "eth0", "netns", pod]
        return [
            ["ip", "netns", "add", pod],
            ["ip", "-n", node, "link", "add", self.veth, "type", "veth", *peer],
            ["ip", "-n", node, "link", "set", self.veth, "master", POD_BRIDGE, "up"],
            ["ip", "-n", pod, "link", "set", "lo", "up"],
            ["ip", "-n", pod, "addr", "add", f"{self.ip}/32", "dev", "eth0"],
            ["ip", "-n", pod, "link", "set", "eth0", "up"],
            ["ip", "-n", pod, "route", "add", "default", "via", self.gateway, *ONLINK],
            # One route per pod: an address no pod holds meets the unreachable /16 at once.
            ["ip", "-n", node, "route", "replace", f"{self.ip}/32", "dev", POD_BRIDGE],
        ]

    @property
    def gateway(self) -> str:
        return f"10.{self.octet}.0.1"

    def delete(self) -> list[list[str]]:
        # The veth goes with the namespace, and its end on the bridge with it.
        return [
            ["ip", "netns", "del", self.netns],
            ["ip", "-n", self.node_namespace, "route", "del", f"{self.ip}/32"],
        ]


def run_ip(argv: Sequence[str]) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, text=True, timeout=30)


class PodNetwork:
    """Pod addresses of one node: in namespaces of their own on a routed cluster, else on
    loopback."""

    def __init__(
        self, octet: int, run: Run = run_ip, namespaces: Path = Path("/run/netns")
    ) -> None:
        self._octet = octet
        self._run = run
        self._namespaces = namespaces
        self._routed = (namespaces / f"modelship{octet}").exists()
        self._addresses = AddressAllocator(10 if self._routed else 127, octet)
        if self._routed:
            self._remove_leftovers()
            log.info("pods get network namespaces on %s's bridge", f"modelship{octet}")
        else:
            log.warning("pod addresses fall back to loopback (no Service can hold them): the "
                        "cluster has no service network (not run as root?)")  # fmt: skip

    @property
    def routed(self) -> bool:
        return self._routed

    def allocate(self) -> PodAddress:
        ip = self._addresses.allocate()
        if not self._routed:
            return PodAddress(ip, None)
        commands = PodNamespaceCommands(self._octet, ip)
        try:
            for argv in commands.add():
                self._run(argv)
        except (OSError, subprocess.CalledProcessError):
            for argv in commands.delete():
                _quietly(self._run, argv)
            self._addresses.release(ip)
            raise
        return PodAddress(ip, commands.netns)

    def release(self, ip: str) -> None:
        if self._routed:
            for argv in PodNamespaceCommands(self._octet, ip).delete():
                _quietly(self._run, argv)
        self._addresses.release(ip)

    def close(self) -> None:
        if self._routed:
            self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        """Pod namespaces of this cluster a crashed node left (none of them runs any more)."""
        for path in self._namespaces.glob(f"modelship{self._octet}-*"):
            _quietly(self._run, ["ip", "netns", "del", path.name])


def remove_bridge(octet: int, run: Run = run_ip) -> None:
    """Delete a cluster's bridge and route (for `dev down` after a node that did not clean up)."""
    for argv in BridgeCommands(octet).remove():
        _quietly(run, argv)


def _quietly(run: Run, argv: Sequence[str]) -> None:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        run(argv)


def bridges_in_use(sys_class_net: Path = Path("/sys/class/net")) -> set[int]:
    """Octets of the clusters' bridges that exist on this machine now."""
    names = (path.name.removeprefix("modelship") for path in sys_class_net.glob("modelship*"))
    return {int(name) for name in names if name.isdigit()}
