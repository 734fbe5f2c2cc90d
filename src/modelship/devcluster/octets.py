"""Which `10.<n>.0.0/16` a local cluster owns: chosen once, reserved atomically, kept.

Two clusters started at the same moment (the two test workers do) used to look at the machine's
bridges and namespaces, see nothing, and could pick the same octet; the second to build its
service network then removed the first's. The choice is now made under a lock, in a directory of
reservations shared by every cluster on the machine: one file per octet naming the dev directory
that holds it. A reservation whose dev directory no longer keeps that octet (deleted, or moved
to another) is stale and is reclaimed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from pathlib import Path

from modelship.devcluster.node.network import bridges_in_use, pick_subnet_octet

log = logging.getLogger(__name__)

KEPT = "node.json"


def default_reservations() -> Path:
    """Shared by every user's clusters on the machine (the /16s are the machine's)."""
    return Path(tempfile.gettempdir()) / "modelship-octets"


def kept_octet(root: Path, reservations: Path | None = None) -> int:
    """The cluster's second octet: the one its dev directory keeps, else a new one that no
    other cluster on this machine uses or has reserved."""
    reservations = reservations or default_reservations()
    try:
        reservations.mkdir(mode=0o1777, parents=True, exist_ok=True)
        lock = _lock(reservations / ".lock")
    except OSError as error:
        # Another user's directory (root made it): this user cannot build service networks
        # either, so its cluster runs on loopback, where a shared octet does no harm.
        log.warning(
            "cannot reserve a /16 in %s (%s): picking without a reservation", reservations, error
        )
        return _unreserved(root)
    try:
        kept = _kept(root)
        if kept is not None:
            _reserve(reservations, kept, root)
            return kept
        taken = bridges_in_use() | namespaces_in_use() | reserved(reservations, but=root)
        octet = pick_subnet_octet(taken=taken)
        _reserve(reservations, octet, root)
        # Written under the lock: from here on, the reservation is live for every other picker.
        (root / KEPT).write_text(json.dumps({"subnetOctet": octet}))
        return octet
    finally:
        os.close(lock)  # and with it the lock


def _unreserved(root: Path) -> int:
    kept = _kept(root)
    if kept is None:
        kept = pick_subnet_octet(taken=bridges_in_use() | namespaces_in_use())
        (root / KEPT).write_text(json.dumps({"subnetOctet": kept}))
    return kept


def reserved(reservations: Path, but: Path | None = None) -> set[int]:
    """Octets reserved by live dev directories other than `but`; stale reservations removed."""
    octets: set[int] = set()
    for entry in reservations.iterdir():
        if not entry.name.isdigit():
            continue
        octet = int(entry.name)
        with contextlib.suppress(OSError):
            holder = Path(entry.read_text().strip())
            if but is not None and holder == but.resolve():
                continue
            if _kept(holder) == octet:
                octets.add(octet)
                continue
            entry.unlink()
    return octets


def namespaces_in_use(run_netns: Path = Path("/run/netns")) -> set[int]:
    """Octets of the clusters' service namespaces that exist on this machine now."""
    names = (path.name.removeprefix("modelship") for path in run_netns.glob("modelship*"))
    return {int(name) for name in names if name.isdigit()}


def _kept(root: Path) -> int | None:
    try:
        kept = json.loads((root / KEPT).read_text())
    except (OSError, ValueError):
        return None
    # A directory from before pod addresses left loopback kept its octet as `loopbackOctet`.
    value = kept.get("subnetOctet", kept.get("loopbackOctet"))
    return int(value) if value is not None else None


def _reserve(reservations: Path, octet: int, root: Path) -> None:
    entry = reservations / str(octet)
    holder = root.resolve()
    with contextlib.suppress(OSError):
        current = Path(entry.read_text().strip())
        if current != holder and _kept(current) == octet:
            log.warning("10.%d.0.0/16 is also kept by the cluster in %s", octet, current)
            return
    entry.write_text(str(holder))
    with contextlib.suppress(OSError):
        entry.chmod(0o666)


def _lock(path: Path) -> int:
    """An exclusive lock on `path`, held until the returned descriptor is closed."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        os.close(fd)
        raise
    return fd
