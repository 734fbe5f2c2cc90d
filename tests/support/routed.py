"""Traffic sent through the router's pod addresses, as the live canary and shadow tests do.

The local cluster has no Service proxy the tests can reach, so callers go straight to the
router pods (round robin over them) and count the answers by the backend the router names.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from typing import Any

import httpx

from modelship.contracts.routing import BACKEND_HEADER, ROUTER_PORT
from modelship.operator.kube.client import Kube
from support.live import pod_ips

Obj = dict[str, Any]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [6.7, 3.0, 5.2, 2.3], [5.8, 2.7, 5.1, 1.9],
        [4.9, 3.0, 1.4, 0.2], [5.7, 2.8, 4.1, 1.3]]  # fmt: skip


def body(row: list[float]) -> Obj:
    return {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": row}]}


def router_ips(kube: Kube, namespace: str, name: str) -> list[str]:
    """Addresses of the ready router pods of Deployment `name` that are not being deleted."""
    return pod_ips(kube, namespace, name, "router", ready=True)


class Traffic:
    """Requests sent continuously through the router pods, answers counted by backend."""

    def __init__(self, ips: list[str], model: str) -> None:
        self.urls = itertools.cycle(
            f"http://{ip}:{ROUTER_PORT}/v2/models/{model}/infer" for ip in ips
        )
        self.backends: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self.quiet = threading.Event()  # set: hold back while shares are measured
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            for row in itertools.cycle(ROWS):
                if self._stop.is_set():
                    return
                if self.quiet.is_set():
                    time.sleep(0.05)
                    continue
                self.send(client, row)

    def send(self, client: httpx.Client, row: list[float]) -> None:
        try:
            answer = client.post(next(self.urls), json=body(row))
        except httpx.HTTPError as error:
            self.failures.append(str(error))
            return
        if answer.status_code != 200:
            self.failures.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
        self.backends[answer.headers.get(BACKEND_HEADER, "?")] += 1
