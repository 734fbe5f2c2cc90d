"""Ready pod addresses from EndpointSlices as the API server returns them (discovery.k8s.io/v1)."""

from __future__ import annotations

from typing import Any

from modelship.router.endpointslices import ready_endpoints
from modelship.router.routes import Endpoint

# As `kubectl get endpointslices -o json` prints them (a slice without the terminating condition).
WITHOUT_TERMINATING: dict[str, Any] = {
    "kind": "EndpointSlice",
    "apiVersion": "discovery.k8s.io/v1",
    "metadata": {
        "name": "iris-v3-abcde",
        "namespace": "ml",
        "labels": {
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            "kubernetes.io/service-name": "iris-v3",
        },
        "resourceVersion": "1234",
    },
    "addressType": "IPv4",
    "endpoints": [
        {
            "addresses": ["10.244.0.12"],
            "conditions": {"ready": True},
            "targetRef": {"kind": "Pod", "namespace": "ml", "name": "iris-v3-7d9-1"},
            "topology": {"kubernetes.io/hostname": "node-1"},
        },
        {
            "addresses": ["10.244.0.13"],
            "conditions": {"ready": False},
            "targetRef": {"kind": "Pod", "namespace": "ml", "name": "iris-v3-7d9-2"},
            "topology": {"kubernetes.io/hostname": "node-1"},
        },
        # No conditions at all: the API says to treat the unknown state as ready.
        {"addresses": ["10.244.0.14"], "topology": {"kubernetes.io/hostname": "node-1"}},
    ],
    "ports": [
        {"name": "metrics", "protocol": "TCP", "port": 9090},
        {"name": "http", "protocol": "TCP", "port": 8080},
    ],
}

# The v1 shape (Kubernetes >= 1.21): nodeName/zone instead of topology, serving/terminating.
V1: dict[str, Any] = {
    "kind": "EndpointSlice",
    "apiVersion": "discovery.k8s.io/v1",
    "metadata": {
        "name": "iris-v3-fghij",
        "namespace": "ml",
        "labels": {"kubernetes.io/service-name": "iris-v3"},
        "resourceVersion": "1240",
    },
    "addressType": "IPv4",
    "endpoints": [
        {
            "addresses": ["10.244.1.20"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": "node-2",
            "zone": "a",
            "targetRef": {"kind": "Pod", "namespace": "ml", "name": "iris-v3-7d9-3"},
        },
        {
            "addresses": ["10.244.1.21"],
            "conditions": {"ready": False, "serving": True, "terminating": True},
            "nodeName": "node-2",
        },
        # The same pod also listed in the other slice (during a slice rebalance).
        {"addresses": ["10.244.0.12"], "conditions": {"ready": True}},
    ],
    "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
}


def test_ready_addresses_on_the_http_port_of_both_versions() -> None:
    assert ready_endpoints([WITHOUT_TERMINATING, V1]) == (
        Endpoint("10.244.0.12", 8080),
        Endpoint("10.244.0.14", 8080),
        Endpoint("10.244.1.20", 8080),
    )


def test_slices_without_an_http_port_or_with_fqdns_give_nothing() -> None:
    unnamed = {**V1, "ports": [{"name": "", "port": 8080}]}
    fqdn = {**V1, "addressType": "FQDN"}
    empty = {**V1, "endpoints": None}  # a Service without pods: `endpoints` is null
    assert ready_endpoints([unnamed, fqdn, empty]) == ()


def test_the_grpc_port_rides_along_when_the_slice_has_one() -> None:
    with_grpc = {**V1, "ports": [*V1["ports"], {"name": "grpc", "protocol": "TCP", "port": 8081}]}
    assert ready_endpoints([with_grpc]) == (
        Endpoint("10.244.0.12", 8080, 8081),
        Endpoint("10.244.1.20", 8080, 8081),
    )
    assert all(e.grpc_port is None for e in ready_endpoints([V1]))
