"""Shared fixtures: one real local cluster per test session.

`dev_cluster` starts etcd, kube-apiserver, kube-controller-manager and the local node in a
temporary directory (its own ports, so a developer's `make cluster-up` cluster can keep running)
with the repository's CRDs installed. A missing control-plane binary fails the session (the
binaries are built on first use); the integration tier is never skipped.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import kubernetes
import pytest

from modelship.devcluster.binaries import BinariesError, resolve_binaries
from modelship.devcluster.cluster import DevCluster
from modelship.operator.kube import Kube, load_api_client

REPO_ROOT = Path(__file__).resolve().parents[1]
CRDS_DIR = REPO_ROOT / "crds"
T = TypeVar("T")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Obtain the control-plane binaries before the first test when integration tests run.

    The first build takes minutes; done here it is not charged to one test's timeout, and its
    progress is printed. A failure stops the session: the integration tier is never skipped.
    """
    wanted = ("integration", "e2e")
    if any(item.get_closest_marker(m) for item in session.items for m in wanted):
        try:
            resolve_binaries()
        except BinariesError as error:
            pytest.exit(f"the integration tests need the control plane: {error}", returncode=1)


@pytest.fixture(scope="session")
def dev_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    cluster = DevCluster(tmp_path_factory.mktemp("devcluster"))
    crds = CRDS_DIR if any(CRDS_DIR.glob("*.yaml")) else None
    # A SIGTERM (a CI timeout, `timeout pytest`) would end the session without teardown and
    # leave the cluster running; as an interrupt, pytest still tears it down.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    cluster.up(crds_dir=crds)
    try:
        yield cluster
    finally:
        cluster.down()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def kube_api(dev_cluster: DevCluster) -> Iterator[kubernetes.client.ApiClient]:
    """A `kubernetes` ApiClient for the session cluster (cluster-admin)."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(dev_cluster.kubeconfig), client_configuration=configuration
    )
    with kubernetes.client.ApiClient(configuration) as api:
        yield api


@pytest.fixture(scope="session")
def kube(dev_cluster: DevCluster) -> Iterator[Kube]:
    """The operator's own client layer on the session cluster (integration and e2e tests)."""
    client = Kube(load_api_client(str(dev_cluster.kubeconfig)))
    yield client
    client.close()


@pytest.fixture
def namespace(kube_api: kubernetes.client.ApiClient) -> Iterator[str]:
    """A fresh namespace whose `default` ServiceAccount has its token (so pods are admitted)."""
    core = kubernetes.client.CoreV1Api(kube_api)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    Waiter()(
        lambda: any(
            a.metadata.name == "default" and a.secrets
            for a in core.list_namespaced_service_account(name).items
        ),
        timeout=30,
        what=f"the default ServiceAccount token in {name}",
    )
    yield name
    core.delete_namespace(name)


class Waiter:
    """Polls a condition until it holds: the tests' only way to wait (no bare sleeps)."""

    def __call__(
        self, condition: Callable[[], T | None], timeout: float = 60.0, what: str = "condition"
    ) -> T:
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def wait_until() -> Waiter:
    """`wait_until(lambda: ..., timeout, what)` returns the first truthy value of the condition."""
    return Waiter()
