"""Fixtures of the identity, capture and feedback tests: apps serving real models (iris, a
classifier; diabetes, a regressor) published into a temporary catalog, in-process through
FastAPI's TestClient, each app with its own Prometheus registry. Nothing is faked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

from modelship.catalog import VersionMetadata
from modelship.serving import ServingSettings, create_app
from support.monitoring import MakeClient
from support.serving import IRIS_FEATURES, NAMESPACE, publish


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("catalog")
    x, y = load_iris(return_X_y=True)
    dx, dy = load_diabetes(return_X_y=True)
    return {
        "root": root,
        "iris": publish(root, "iris", LogisticRegression(max_iter=1000), x, y, IRIS_FEATURES),
        "diabetes": publish(
            root, "diabetes", LinearRegression(), dx, dy, [f"x{i}" for i in range(dx.shape[1])]
        ),
    }


@pytest.fixture
def make_client(published: dict[str, Any]) -> Iterator[MakeClient]:
    """`make_client(model="iris", **settings)`: a started app (lifespan entered) and its client."""
    clients: list[TestClient] = []

    def make(model: str = "iris", **overrides: Any) -> TestClient:
        metadata: VersionMetadata = published[model]
        root: Path = published["root"]
        values: dict[str, Any] = {
            "model_name": model,
            "namespace": NAMESPACE,
            "version": metadata.version,
            "catalog_root": str(root),
            "expected_digest": metadata.digest,
            "stage": "production",
            **overrides,
        }
        app = create_app(ServingSettings(**values), registry=CollectorRegistry())
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
