"""Pod addresses on the loopback network.

Linux routes all of 127.0.0.0/8 to the loopback interface, so every pod can get an address of
its own without a network namespace, a bridge or any traffic leaving the host. The node picks a
/16 (`127.<n>.0.0`) per cluster and gives each pod the next free address in it; a process in the
pod learns its address as `status.podIP` (downward API) or from `MODELSHIP_BIND_HOST`, and two
pods can then listen on the same port without colliding.
"""

from __future__ import annotations

import random


def pick_subnet_octet(rng: random.Random | None = None) -> int:
    """A second octet for 127.<n>.0.0/16, away from 127.0.x.x which host services use."""
    return (rng or random.Random()).randint(100, 254)


class LoopbackAllocator:
    """Hands out 127.<octet>.x.y addresses, never one still in use, reusing freed ones last."""

    def __init__(self, octet: int) -> None:
        if not 1 <= octet <= 254:
            raise ValueError(f"second octet {octet} is outside 1..254")
        self._octet = octet
        self._next = 1
        self._in_use: set[str] = set()

    def _address(self, index: int) -> str:
        return f"127.{self._octet}.{index // 254}.{index % 254 + 1}"

    def allocate(self) -> str:
        for _ in range(254 * 256):
            address = self._address(self._next)
            self._next = self._next + 1 if self._next < 254 * 256 - 1 else 1
            if address not in self._in_use:
                self._in_use.add(address)
                return address
        raise RuntimeError("no free loopback address for a pod")

    def release(self, address: str) -> None:
        self._in_use.discard(address)
