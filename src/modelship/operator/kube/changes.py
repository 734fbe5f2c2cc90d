"""Which watch events of an object changed what its dependants read.

A Model's Deployments read its spec and status; every other event of that Model (Kopf's own
annotation patches, a status write that changed nothing, a resync) would reconcile each of them
for nothing: two reads per Deployment per event, the largest share of an operator's requests
while thousands of new objects settle (issue 30). Likewise a Model reads only the drift and live
performance its Deployments record. This remembers, per object, a fingerprint of the part its
dependants read, so a handler tells them only when that part moved.

A fingerprint is recorded only after the dependants were told (`told`): should telling them
fail, the next event, even an identical one, tells them again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Hashable
from typing import Any


def fingerprint(part: Any) -> int:
    """Equal for equal JSON values, whatever the order of their keys."""
    return hash(json.dumps(part, sort_keys=True, separators=(",", ":"), default=str))


def model_part(body: dict[str, Any]) -> list[Any]:
    """What a Deployment's reconcile reads of its Model: spec, status, whether deletion began."""
    meta = body.get("metadata") or {}
    return [body.get("spec"), body.get("status"), bool(meta.get("deletionTimestamp"))]


def training_part(body: dict[str, Any]) -> list[Any]:
    """What a Model's reconcile reads of its TrainingJob: not Kopf's finalizer and annotation
    patches of the run's daemon, which came as three events per run, each a Model reconcile."""
    meta = body.get("metadata") or {}
    return [
        body.get("spec"),
        body.get("status"),
        meta.get("labels"),
        bool(meta.get("deletionTimestamp")),
    ]


def measured_part(body: dict[str, Any]) -> list[Any]:
    """What a Model's reconcile reads of its Deployment: the Model it names, and the drift and
    live performance recorded (with their times: a reading written again is judged again; one
    held back by a cooldown is also judged again when the cooldown ends, model/clock.py)."""
    status = body.get("status") or {}
    model = ((body.get("spec") or {}).get("modelRef") or {}).get("name")
    return [model, status.get("drift"), status.get("performance")]


class Changes:
    """Fingerprints of what each object's dependants were last told; safe across threads."""

    def __init__(self) -> None:
        self._told: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def moved(self, key: Hashable, part: Any) -> bool:
        """Whether `part` differs from what `key`'s dependants were last told of."""
        with self._lock:
            return self._told.get(key) != fingerprint(part)

    def latest(self, key: Hashable) -> int | None:
        """The fingerprint `key`'s dependants were last told of (None: unknown or forgotten)."""
        with self._lock:
            return self._told.get(key)

    def told(self, key: Hashable, part: Any) -> None:
        with self._lock:
            self._told[key] = fingerprint(part)

    def forget(self, key: Hashable) -> None:
        """The object is gone: its next incarnation starts unknown."""
        with self._lock:
            self._told.pop(key, None)

    def __len__(self) -> int:
        return len(self._told)
