"""Which watch events of an object changed what its dependants read.

A Model's Deployments read its spec and status; every other event of that Model (Kopf's own
annotation patches, a status write that changed nothing, a resync) would reconcile each of them
for nothing: two reads per Deployment per event, the largest share of an operator's requests
while thousands of new objects settle (issue 30). This remembers, per object, a fingerprint of
the part dependants read, so the handler tells them only when it moved.

A fingerprint is recorded only after the dependants were told (`told`): should telling them
fail, the next event, even an identical one, tells them again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Hashable
from typing import Any


def fingerprint(body: dict[str, Any]) -> int:
    """The spec, status and whether deletion began: what a dependant's reconcile can see."""
    meta = body.get("metadata") or {}
    seen = [body.get("spec"), body.get("status"), bool(meta.get("deletionTimestamp"))]
    return hash(json.dumps(seen, sort_keys=True, separators=(",", ":"), default=str))


class Changes:
    """Fingerprints of the objects whose dependants were last told; safe across threads."""

    def __init__(self) -> None:
        self._told: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def moved(self, key: Hashable, body: dict[str, Any]) -> bool:
        """Whether `body` differs from what `key`'s dependants were last told of."""
        with self._lock:
            return self._told.get(key) != fingerprint(body)

    def told(self, key: Hashable, body: dict[str, Any]) -> None:
        with self._lock:
            self._told[key] = fingerprint(body)

    def forget(self, key: Hashable) -> None:
        """The object is gone: its next incarnation starts unknown."""
        with self._lock:
            self._told.pop(key, None)

    def __len__(self) -> int:
        return len(self._told)
