"""Pod addresses: one per pod, in a private range local to this machine.

Every pod gets an address of its own, reported as `status.podIP`; a process in the pod learns it
from the downward API or `MODELSHIP_BIND_HOST` and listens on it, so two pods can use the same
port. Kubernetes refuses loopback addresses (127.0.0.0/8) in EndpointSlices, so on a current API
server a pod on loopback would be behind no Service at all. The node therefore takes a /16 of
10.0.0.0/8 per cluster (`10.<n>.0.0/16`, `n` kept in the dev directory; pods use its lower /17,
see servicenet.py for the rest) and, as root, puts each
pod's address on a bridge of its own (`modelship<n>`, no ports attached): the kernel then treats
the address as local, so traffic to it is delivered on this machine like loopback traffic and
never reaches a wire. An `unreachable` route for the whole /16 makes every address of the range
that no pod holds fail at once ("No route to host") instead of following the default route, so no
packet for the range can leave the machine. Pods still share the machine's network namespace
(per-pod namespaces with a veth on that bridge are the networking issue's next step), so they
reach the registry on 127.0.0.1 as before, and Services through the host's route into the
cluster's service namespace (servicenet.py).

Without the right to change addresses (not root), the node falls back to loopback addresses
`127.<n>.x.y`: pods still run and talk, but no EndpointSlice can hold them.
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
    """The `ip` commands that hold a cluster's pod addresses (pure, so they are unit-tested)."""

    octet: int

    @property
    def bridge(self) -> str:
        return f"modelship{self.octet}"

    @property
    def pod_range(self) -> str:
        return f"10.{self.octet}.0.0/16"

    def create(self) -> list[list[str]]:
        return [
            ["ip", "link", "add", self.bridge, "type", "bridge"],
            ["ip", "link", "set", self.bridge, "up"],
            ["ip", "route", "replace", "unreachable", self.pod_range],
        ]

    def add(self, address: str) -> list[str]:
        return ["ip", "addr", "add", f"{address}/32", "dev", self.bridge]

    def delete(self, address: str) -> list[str]:
        return ["ip", "addr", "del", f"{address}/32", "dev", self.bridge]

    def remove(self) -> list[list[str]]:
        return [
            ["ip", "link", "del", self.bridge],
            ["ip", "route", "del", "unreachable", self.pod_range],
        ]


def run_ip(argv: Sequence[str]) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, text=True, timeout=30)


class PodNetwork:
    """Pod addresses of one node: on the cluster's bridge as root, else on loopback."""

    def __init__(self, octet: int, run: Run = run_ip) -> None:
        self._commands = BridgeCommands(octet)
        self._run = run
        self._bridged = self._set_up()
        self._addresses = AddressAllocator(10 if self._bridged else 127, octet)

    @property
    def bridged(self) -> bool:
        return self._bridged

    def _set_up(self) -> bool:
        for argv in self._commands.remove():  # what a crashed node of this cluster left
            _quietly(self._run, argv)
        try:
            for argv in self._commands.create():
                self._run(argv)
        except (OSError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", "") or error
            log.warning("pod addresses fall back to loopback (no Service can hold them): cannot "
                        "create bridge %s: %s", self._commands.bridge, detail)  # fmt: skip
            for argv in self._commands.remove():
                _quietly(self._run, argv)
            return False
        log.info("pod addresses in %s on bridge %s", self._commands.pod_range,
                 self._commands.bridge)  # fmt: skip
        return True

    def allocate(self) -> str:
        address = self._addresses.allocate()
        if self._bridged:
            try:
                self._run(self._commands.add(address))
            except (OSError, subprocess.CalledProcessError):
                self._addresses.release(address)
                raise
        return address

    def release(self, address: str) -> None:
        if self._bridged:
            _quietly(self._run, self._commands.delete(address))
        self._addresses.release(address)

    def close(self) -> None:
        if self._bridged:
            for argv in self._commands.remove():
                _quietly(self._run, argv)


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
