"""The operator's HTTPRoutes against the Gateway API's real CRDs (standard channel).

The local cluster installs the CRDs from the `sigs.k8s.io/gateway-api` module; what the operator
writes for production (all to stable, then a canary split with version pinning by header) must
pass their schema and CEL rules in a server-side dry run, and a route breaking one of their rules
must be refused, so the acceptance is the schema's and not an empty check.
"""

from __future__ import annotations

import copy
from typing import Any

import kubernetes
import pytest

from modelship.api.v1alpha1.progressive import GatewaySpec
from modelship.operator.deployment.builders.traffic import build_http_route
from modelship.operator.kube.resources import HTTPROUTES
from support.factories import iris_deployment

pytestmark = pytest.mark.integration
GATEWAY = GatewaySpec.model_validate(
    {"parentRefs": [{"name": "public", "namespace": "gateways"}], "hostnames": ["iris.example"]}
)


def route(namespace: str, canary: tuple[int, int] | None) -> dict[str, Any]:
    owner = iris_deployment(metadata={"name": "iris", "namespace": namespace, "uid": "d-1"})
    return build_http_route(owner, GATEWAY, 3, canary)


def dry_run(api: kubernetes.client.ApiClient, namespace: str, body: dict[str, Any]) -> Any:
    """Create it server-side with nothing stored (its owner is not a real object here)."""
    objects = kubernetes.client.CustomObjectsApi(api)
    return objects.create_namespaced_custom_object(
        HTTPROUTES.group, HTTPROUTES.version, namespace, HTTPROUTES.plural, body, dry_run="All"
    )


@pytest.mark.parametrize("canary", [None, (4, 20)], ids=["stable", "canary-20"])
def test_the_operators_route_is_accepted_field_for_field(
    kube_api: kubernetes.client.ApiClient, namespace: str, canary: tuple[int, int] | None
) -> None:
    body = route(namespace, canary)
    created = dry_run(kube_api, namespace, body)
    # Nothing pruned: every rule, match and weight came back as sent (defaults may be added).
    for sent, stored in zip(body["spec"]["rules"], created["spec"]["rules"], strict=True):
        pairs = list(zip(sent["backendRefs"], stored["backendRefs"], strict=True))
        assert all(ours["name"] == theirs["name"] for ours, theirs in pairs)
        assert all(ours["weight"] == theirs["weight"] for ours, theirs in pairs if "weight" in ours)
        for match in sent.get("matches", []):
            assert match["headers"] == stored["matches"][0]["headers"]
    assert created["spec"]["hostnames"] == ["iris.example"]


def test_a_route_breaking_the_crds_rules_is_refused(
    kube_api: kubernetes.client.ApiClient, namespace: str
) -> None:
    body = copy.deepcopy(route(namespace, (4, 20)))
    body["spec"]["rules"][-1]["backendRefs"][0]["weight"] = -1
    with pytest.raises(kubernetes.client.ApiException) as caught:
        dry_run(kube_api, namespace, body)
    assert caught.value.status == 422 and "weight" in str(caught.value.body)
