"""`python -m modelship.operator`: run the operator (same as `kopf run -m modelship.operator`)."""

from __future__ import annotations

import asyncio
import faulthandler
import signal
import sys

import kopf

import modelship.operator  # noqa: F401  (registers the handlers)
from modelship.operator.ha.elector import LeaderElector
from modelship.operator.memory import limit_malloc_arenas
from modelship.operator.settings import OperatorSettings

# `kill -USR2 <pid>` writes every thread's stack to the log (stderr) and the operator goes on:
# a stall (a handler waiting on a lock, a thread on the API server) is then seen, not guessed.
STACKS_SIGNAL = signal.SIGUSR2


def main() -> int:
    faulthandler.register(STACKS_SIGNAL, all_threads=True)
    limit_malloc_arenas()  # before Kopf starts any thread (see memory.py)
    settings = OperatorSettings()
    kopf.configure(verbose=False)
    memo = kopf.Memo()
    try:
        asyncio.run(
            kopf.operator(
                clusterwide=not settings.namespaces,
                namespaces=settings.namespaces,
                standalone=settings.standalone,
                liveness_endpoint=settings.health_endpoint or None,
                memo=memo,
            )
        )
    finally:
        # Kopf skips its cleanup handlers when stopped while still starting up; the Lease, if
        # ours, is handed back here too, so a standby need not wait it out (release is a no-op
        # when the Lease is no longer ours).
        elector: LeaderElector | None = getattr(memo, "elector", None)
        if elector is not None:
            elector.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
