"""One lock per object, alive only while a reconcile holds it or waits for it.

Reconciles of one object started from different watches (its own, a child's, its Model's) must
not interleave, so each takes the object's lock. A plain `defaultdict(Lock)` kept a lock for
every object ever reconciled, for the life of the process: on a cluster where models come and
go, that grows without end. Here the table holds its locks weakly: while any thread holds or
waits on a key's lock it stays the one lock of that key; once nobody does, it is gone, and the
next reconcile of the key makes a new one, which is just as exclusive because nobody holds the
old.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable


class KeyedLocks:
    """`locks[key]` is the lock of `key`: the same object for as long as anyone uses it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakValueDictionary[Hashable, threading.Lock] = (
            weakref.WeakValueDictionary()
        )

    def __getitem__(self, key: Hashable) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = threading.Lock()
                self._locks[key] = lock
            return lock

    def __len__(self) -> int:
        """How many keys have a lock in use now."""
        with self._guard:
            return len(self._locks)
