"""The probes of the pods we serve from: when a server is ready, when it is dead, and how long it
may take to start.

A serving process imports scikit-learn, loads and checks its artifact and may compile it to ONNX
before it answers anything; on a busy node that can take most of a minute. Liveness alone (after
a fixed initial delay) killed such a server while it started, and, with the default one-second
timeout, while it was busy answering a burst on a saturated node: a restart that looks to the
rollout and the acceptance Job like a server that refuses connections. So a startup probe holds
liveness back until the process answers once (up to STARTUP_SECONDS), and liveness then allows a
busy server a few seconds an answer. Readiness stays quick: it only takes a pod out of its
Service, which is what a busy or starting pod should be.
"""

from __future__ import annotations

from typing import Any

STARTUP_PERIOD_SECONDS = 2
STARTUP_SECONDS = 300  # the longest a server may take to answer its first probe
LIVENESS_TIMEOUT_SECONDS = 5


def http_probes(port: str, ready_path: str, live_path: str) -> dict[str, Any]:
    """readinessProbe, livenessProbe and startupProbe of a container serving HTTP on `port`."""
    return {
        "readinessProbe": {
            "httpGet": {"path": ready_path, "port": port},
            "periodSeconds": 2,
            "failureThreshold": 2,
        },
        "startupProbe": {
            "httpGet": {"path": live_path, "port": port},
            "periodSeconds": STARTUP_PERIOD_SECONDS,
            "failureThreshold": STARTUP_SECONDS // STARTUP_PERIOD_SECONDS,
        },
        "livenessProbe": {
            "httpGet": {"path": live_path, "port": port},
            "periodSeconds": 10,
            "timeoutSeconds": LIVENESS_TIMEOUT_SECONDS,
            "failureThreshold": 3,
        },
    }
