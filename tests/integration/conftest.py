"""Fixtures shared by the integration tests: the operator's own client on the test cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelship.operator.kube import Kube, load_api_client


@pytest.fixture(scope="session")
def kube(dev_cluster: Any) -> Iterator[Kube]:
    client = Kube(load_api_client(str(dev_cluster.kubeconfig)))
    yield client
    client.close()
