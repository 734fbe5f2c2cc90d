"""Which Deployments follow each Model, learnt from the Deployments' own watch events.

A Model's event must reconcile the Deployments deploying it without listing them. This was a
Kopf index, and Kopf makes an operator with an index wait at start until every object of every
watched kind is indexed: each object's worker drops its toggle from one shared set and then
waits on that set's condition, so every drop wakes every waiting worker. With N objects that is
N x N wake-ups on the event loop before the first handler runs: a restart over 3,000 Models and
Deployments spent most of its 164 s there, and one over 10,000 of each had resumed nothing after
three minutes at a full core (issue 30).

Nothing here needs that wait. A Deployment not yet seen when its Model's event arrives is
reconciled by its own create or resume handler, which reads the Model then; after that, each of
its events keeps this table current before its Model's next event can need it, as Kopf's index
did.

It also keeps, per follower, a fingerprint of the Model its last reconcile read (`saw`). After a
restart every Model's first event is news, yet most of its Deployments were just resumed over
that very Model: at 10,000 pairs, reconciling them again was a third of the restart's requests.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

Key = tuple[str, str]  # (namespace, name)


def followed_model(body: Mapping[str, Any], deleted: bool = False) -> Key | None:
    """(namespace, Model) a Deployment follows, or None when it follows none for now.

    A suspended Deployment reads nothing of its Model (nor any child), so a Model's events need
    not reconcile it; it leaves the table while suspended and its resume reconciles it anyway.
    """
    namespace = (body.get("metadata") or {}).get("namespace")
    spec = body.get("spec") or {}
    model = (spec.get("modelRef") or {}).get("name")
    if deleted or spec.get("suspend") or not (namespace and model):
        return None
    return (str(namespace), str(model))


class DeploymentFollowers:
    """(namespace, Model) -> names of the Deployments following it; safe across threads (the
    event loop records, handler threads read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_model: dict[Key, set[str]] = {}
        self._model_of: dict[Key, Key] = {}
        self._saw: dict[Key, int] = {}  # fingerprint of the Model each one's last reconcile read

    def seen(self, body: Mapping[str, Any], deleted: bool = False) -> None:
        """Record what a Deployment's event says it follows (a deletion: nothing)."""
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace"), meta.get("name")
        if not (namespace and name):
            return
        key, model = (str(namespace), str(name)), followed_model(body, deleted)
        with self._lock:
            before = self._model_of.get(key)
            if before == model:
                return
            self._saw.pop(key, None)
            if before is not None:
                names = self._by_model[before]
                names.discard(key[1])
                if not names:
                    del self._by_model[before]
                del self._model_of[key]
            if model is not None:
                self._by_model.setdefault(model, set()).add(key[1])
                self._model_of[key] = model

    def saw(self, namespace: str, name: str, model: int) -> None:
        """A reconcile of the Deployment read its Model as `model` (a fingerprint)."""
        with self._lock:
            if (namespace, name) in self._model_of:
                self._saw[(namespace, name)] = model

    def needs(self, namespace: str, name: str, model: int) -> bool:
        """Whether the Deployment has not yet been reconciled over its Model as `model`: after a
        restart, its own resume often read the Model its Model's first event brings."""
        with self._lock:
            return self._saw.get((namespace, name)) != model

    def reconciled(self, namespace: str, name: str) -> bool:
        """Whether a reconcile of this process read the Deployment's Model (since it follows it)."""
        with self._lock:
            return (namespace, name) in self._saw

    def of(self, namespace: str, model: str) -> list[str]:
        """The Deployments following the Model, by name."""
        with self._lock:
            return sorted(self._by_model.get((namespace, model), ()))

    def __len__(self) -> int:
        """How many Deployments follow some Model."""
        with self._lock:
            return len(self._model_of)
