"""The router learns its table and pods from a real API server, with only its own Role.

The ServiceAccount gets exactly the Role the router's requests need (kubeapi.py lists them):
the one ConfigMap by name (get, watch) and EndpointSlices (list, watch). EndpointSlices are
written by hand, as the EndpointSlice controller would write them for a Service's pods.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from modelship.contracts.routing import RouteBackend, RoutingTable
from modelship.router.kubeapi import ApiConnection, KubeSource
from modelship.router.routes import Endpoint
from modelship.router.state import RoutingState
from support.accounts import service_account_token
from support.kubectl import Kubectl

pytestmark = pytest.mark.integration
CONFIG_MAP = "iris-routing"
DIGEST = "sha256:" + "b" * 64


def router_role(namespace: str) -> list[dict[str, Any]]:
    """The ServiceAccount, Role and RoleBinding the router needs (the operator builds these)."""
    meta = {"name": "iris-router", "namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": [CONFIG_MAP],
                    "verbs": ["get", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "iris-router",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "iris-router", "namespace": namespace}],
        },
    ]


def config_map(table: RoutingTable) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP},
        "data": table.to_data(),
    }


def endpoint_slice(version: str, service: str, ready: dict[str, bool]) -> dict[str, Any]:
    return {
        "apiVersion": f"discovery.k8s.io/{version}",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{service}-a", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": r}} for ip, r in ready.items()],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def table(revision: int, weight: int) -> RoutingTable:
    return RoutingTable(
        revision=revision,
        stable=RouteBackend(version=1, digest=DIGEST, service="iris-v1"),
        canary=RouteBackend(version=2, digest=DIGEST, service="iris-v2"),
        canary_weight=weight,
    )


def connection(kubeconfig: Path, token: str, directory: Path) -> ApiConnection:
    cluster = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]
    ca = directory / "ca.crt"
    if "certificate-authority-data" in cluster:
        ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    else:
        ca = Path(cluster["certificate-authority"])
    return ApiConnection(cluster["server"], str(ca), token=token)


async def until(check: Callable[[], Any], what: str, seconds: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_the_router_follows_its_configmap_and_endpointslices(
    kubectl: Kubectl,
    kube_api: Any,
    namespace: str,
    cluster_kubeconfig: Path,
    tmp_path: Path,
) -> None:
    ns = ("-n", namespace)
    kubectl.apply(router_role(namespace), *ns)
    core = kubernetes.client.CoreV1Api(kube_api)

    token = service_account_token(core, namespace, "iris-router")
    api = connection(cluster_kubeconfig, token, tmp_path)
    slices = "v1"
    kubectl.apply([config_map(table(revision=1, weight=10))], *ns)
    kubectl.apply([endpoint_slice(slices, "iris-v1", {"10.9.0.1": True, "10.9.0.2": False})], *ns)

    state = RoutingState()
    source = KubeSource(api, namespace, CONFIG_MAP, watch_timeout=10, retry_max=1)
    task = asyncio.create_task(source.run(state))
    try:
        await until(lambda: state.ready, "the first table and stable's pods")
        assert state.table == table(revision=1, weight=10)
        assert state.endpoints["iris-v1"] == (Endpoint("10.9.0.1", 8080),)
        assert state.routes is not None and state.routes.canary is not None
        assert state.routes.canary.endpoints == ()

        # The canary's pods appear, a stable pod turns ready, the weight moves: all by watch.
        kubectl.apply([endpoint_slice(slices, "iris-v2", {"10.9.1.1": True})], *ns)
        kubectl.apply(
            [endpoint_slice(slices, "iris-v1", {"10.9.0.1": True, "10.9.0.2": True})], *ns
        )
        kubectl.apply([config_map(table(revision=2, weight=50))], *ns)
        await until(
            lambda: (
                state.table is not None
                and state.table.canary_weight == 50
                and len(state.endpoints.get("iris-v1", ())) == 2
                and state.endpoints.get("iris-v2") == (Endpoint("10.9.1.1", 8080),)
            ),
            "the changes",
        )

        # A stale revision and an invalid table are ignored; the last good table stays.
        kubectl.apply([config_map(table(revision=1, weight=90))], *ns)
        broken = {**config_map(table(3, 0)), "data": {"routing.json": json.dumps({"x": 1})}}
        kubectl.apply([broken], *ns)
        kubectl.apply([config_map(table(revision=4, weight=100))], *ns)
        await until(lambda: state.table is not None and state.table.revision == 4, "revision 4")
        assert [t.canary_weight for t in [state.table]] == [100]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    # Fail closed: the same token reads no other ConfigMap.
    kubectl.apply([{**config_map(table(1, 0)), "metadata": {"name": "other"}}], *ns)
    async with api.client() as client:
        other = await client.get(
            f"/api/v1/namespaces/{namespace}/configmaps/other", headers=api.headers()
        )
    assert other.status_code == 403
