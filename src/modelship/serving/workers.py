"""More cores: N server processes sharing the pod's ports, under one supervisor.

One Python process uses one core for the work that matters here (parsing, the event loop,
small predictions all hold the GIL), so a pod with a 2-CPU limit runs two workers. Each worker
is a whole `python -m modelship.serving` (its own model, event loop, HTTP and gRPC listeners)
binding the same ports with SO_REUSEPORT: the kernel spreads connections over the workers'
sockets, and a worker's socket accepts nothing until its model is loaded (it listens only then).
Separate sockets rather than one inherited accept socket, where with epoll the busiest worker
tends to win most accepts.

What a client reads stays whole: every worker runs prometheus_client in multiprocess mode over
one shared directory, so any worker's /metrics shows the pod's totals, and each worker publishes
its drift counts there so any worker's drift report covers the traffic of all of them
(shared_drift.py). The supervisor forwards SIGTERM/SIGINT (each worker then drains as one
server would, server.py) and, should a worker die, stops the others and exits with its code
so that the kubelet restarts the container rather than it serving on fewer cores unnoticed.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from types import FrameType

from modelship.contracts.serving import ServingEnv
from modelship.serving.settings import ServingSettings

log = logging.getLogger(__name__)


def supervise(settings: ServingSettings, workers: int) -> int:
    """Run `workers` server processes until they all exit; the exit code of the first failure."""
    directory = tempfile.mkdtemp(prefix="modelship-workers-")
    env = dict(os.environ)
    env[ServingEnv.env_name("workers")] = "1"
    env["MODELSHIP_SERVING_WORKER_DIR"] = directory
    # Read by prometheus_client when a worker imports it: metric values go to shared files.
    env["PROMETHEUS_MULTIPROC_DIR"] = directory
    children = [
        subprocess.Popen([sys.executable, "-m", "modelship.serving"], env=env)
        for _ in range(workers)
    ]
    stopping = False

    def forward(sig: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(sig)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("started %d workers: %s", workers, [child.pid for child in children])
    code = 0
    try:
        running = set(children)
        while running:
            pid, status = os.wait()
            child = next((c for c in running if c.pid == pid), None)
            if child is None:
                continue
            running.discard(child)
            exit_code = os.waitstatus_to_exitcode(status)
            # Killed by signal N: report it as a shell would (128 + N), never negative.
            child.returncode = exit_code if exit_code >= 0 else 128 - exit_code
            if child.returncode != 0 and not stopping:
                log.error("worker %d exited with %d; stopping the others", pid, child.returncode)
                code = code or child.returncode
                forward(signal.SIGTERM, None)
            elif child.returncode != 0:
                code = code or child.returncode
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(directory, ignore_errors=True)
    return code
