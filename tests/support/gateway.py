"""A live Gateway on the cluster under test: Traefik as a host process, a GatewayClass and a
Gateway of its own, and requests sent through it by hostname.

Traefik (devcluster/traefik.py) reads the cluster with the admin kubeconfig and forwards to the
EndpointSlice addresses of the routes' Services, which the local node gives real pod addresses.
The class carries a label only this Traefik selects, so it never programs another's Gateway.
What the tests check goes through the Gateway API objects and HTTP only: nothing here depends
on which implementation serves the Gateway, apart from starting it.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import kubernetes

from modelship.devcluster.gocache import GoBuildSettings
from modelship.devcluster.ports import free_ports, is_listening
from modelship.devcluster.processes import is_running, stop
from modelship.devcluster.traefik import gateway, gateway_class, start_traefik, traefik_binary
from support.routed import ROWS
from support.waiting import wait_for

Obj = dict[str, Any]
GROUP, VERSION = "gateway.networking.k8s.io", "v1"
CLASS_LABEL = "modelship.io/test-gateway"


@dataclass(frozen=True)
class LiveGateway:
    """Where the Gateway is (its objects) and where it listens (loopback port)."""

    name: str
    namespace: str
    port: int
    log: Path

    def parent_ref(self) -> Obj:
        return {"name": self.name, "namespace": self.namespace}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def condition(obj: Obj | None, kind: str) -> str | None:
    """The status of condition `kind` in an object's status (None when absent)."""
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return str(item.get("status"))
    return None


@contextmanager
def running_gateway(
    api: kubernetes.client.ApiClient, kubeconfig: Path, directory: Path
) -> Iterator[LiveGateway]:
    """Traefik, its GatewayClass and a Gateway, yielded once the Gateway is Programmed."""
    binary = traefik_binary(GoBuildSettings.from_environ(os.environ))
    (port,) = free_ports(1)
    suffix = uuid.uuid4().hex[:8]
    class_name, namespace = f"traefik-{suffix}", f"gateways-{suffix}"
    core, objects = kubernetes.client.CoreV1Api(api), kubernetes.client.CustomObjectsApi(api)
    core.create_namespace({"metadata": {"name": namespace}})
    objects.create_cluster_custom_object(
        GROUP, VERSION, "gatewayclasses", gateway_class(class_name, {CLASS_LABEL: suffix})
    )
    objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "gateways", gateway("public", namespace, class_name, port)
    )

    def accepted() -> bool:
        gc = objects.get_cluster_custom_object(GROUP, VERSION, "gatewayclasses", class_name)
        gw = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, "gateways", "public")
        return condition(gc, "Accepted") == "True" and condition(gw, "Programmed") == "True"

    record = start_traefik(
        binary, directory, port, kubeconfig, class_selector=f"{CLASS_LABEL}={suffix}"
    )
    live = LiveGateway("public", namespace, port, Path(record.log))
    try:
        wait_for(
            lambda: is_listening(port) and accepted(),
            timeout=60,
            what=f"Traefik listening on {port} and Gateway {namespace}/public Programmed",
            describe=lambda: f"running: {is_running(record)}\n{live.tail()}",
        )
        yield live
    finally:
        stop([record])
        core.delete_namespace(namespace)
        objects.delete_cluster_custom_object(GROUP, VERSION, "gatewayclasses", class_name)


class GatewayTraffic:
    """Inference requests sent through the Gateway by hostname, answers counted by the
    `model_version` they carry; as a context manager, sent continuously in the background."""

    def __init__(self, gateway: LiveGateway, host: str, model: str) -> None:
        self.url = gateway.url(f"v2/models/{model}/infer")
        self.host = host
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self.quiet = threading.Event()  # set: the background holds back while shares are measured
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GatewayTraffic:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            for row in itertools.cycle(ROWS):
                if self._stop.is_set():
                    return
                if self.quiet.is_set():
                    time.sleep(0.05)
                    continue
                self.send(client, row, self.versions)

    def measure(self, requests: int) -> Counter[str]:
        """`requests` answers in sequence, the background held back meanwhile, by version."""
        self.quiet.set()
        counted: Counter[str] = Counter()
        try:
            with httpx.Client(timeout=10) as client:
                for index in range(requests):
                    self.send(client, ROWS[index % len(ROWS)], counted)
        finally:
            self.quiet.clear()
        return counted

    def send(self, client: httpx.Client, row: list[float], into: Counter[str]) -> None:
        body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": row}]}
        try:
            answer = client.post(self.url, json=body, headers={"Host": self.host})
        except httpx.HTTPError as error:
            self.failures.append(f"{type(error).__name__}: {error}")
            return
        if answer.status_code != 200:
            self.failures.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
            return
        into[str(answer.json().get("model_version"))] += 1
