"""A Model's Deployments are asked of the API server by field, not read from the namespace."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from modelship.api.crd import KINDS, build_crd
from modelship.operator.kube.client import KubeError
from modelship.operator.kube.lookups import MODEL_REF_FIELD, deployments_of_model
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS
from support.factories import iris_deployment
from support.fake_kube import FakeKube


def cluster(kube: FakeKube) -> FakeKube:
    for name, model in (("a", "iris"), ("b", "wine"), ("c", "iris")):
        kube.put(
            MODEL_DEPLOYMENTS,
            iris_deployment(name, model=model, metadata={"namespace": "ml"}),
        )
    return kube


class OldCrd(FakeKube):
    """An API server whose Deployment CRD declares no selectable field."""

    def __init__(self, status: int = 400) -> None:
        super().__init__()
        self.status = status

    def list(self, res: Any, namespace: str, selector: Any = None, fields: Any = None) -> Any:
        if fields:
            raise KubeError(self.status, f'field label not supported: "{MODEL_REF_FIELD}"')
        return super().list(res, namespace, selector)


def test_the_api_server_is_asked_for_the_models_deployments_only() -> None:
    kube = cluster(FakeKube())
    assert [d["metadata"]["name"] for d in deployments_of_model(kube, "ml", "iris")] == ["a", "c"]
    assert deployments_of_model(kube, "ml", "absent") == []


def test_the_deployment_crd_declares_the_field_selectable() -> None:
    versions = {info.kind: build_crd(info)["spec"]["versions"][0] for info in KINDS}
    assert versions["Deployment"]["selectableFields"] == [{"jsonPath": f".{MODEL_REF_FIELD}"}]
    assert "selectableFields" not in versions["Model"]


def test_an_older_crd_still_gets_the_right_deployments_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kube = cluster(OldCrd())
    with caplog.at_level(logging.WARNING):
        picked = deployments_of_model(kube, "ml", "iris")
    assert [d["metadata"]["name"] for d in picked] == ["a", "c"]
    assert "apply this release's CRDs" in caplog.text


def test_other_failures_are_not_hidden() -> None:
    with pytest.raises(KubeError):
        deployments_of_model(cluster(OldCrd(status=503)), "ml", "iris")
