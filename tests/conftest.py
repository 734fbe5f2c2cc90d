"""Shared fixtures: one real cluster per test session, and the operator inside it.

By default `dev_cluster` starts etcd, kube-apiserver, kube-controller-manager and the local node
in a temporary directory (its own ports, so a developer's `make cluster-up` cluster can keep
running) with the repository's CRDs installed. A missing control-plane binary fails the session
(the binaries are built on first use); the integration tier is never skipped.

`MODELSHIP_TEST_KUBECONFIG` names an existing cluster to use instead, and
`MODELSHIP_TEST_OPERATOR=in-cluster` says the operator is already deployed there (support/target.py
reads them). Fixtures that need only a cluster (`kube`, `kubectl`, `namespace`, ...) then use that
one and no local cluster starts; `dev_cluster` itself, for the tests that read the local node's
files, accepts only a cluster that `modelship dev up` started.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from modelship.devcluster.binaries import BinariesError, resolve_binaries
from modelship.devcluster.cluster import DevCluster
from modelship.operator.kube.client import Kube, load_api_client
from support.accounts import create_model_namespace, create_namespace
from support.in_cluster import InClusterOperator
from support.kubectl import Kubectl
from support.schedule import longest_first
from support.target import KUBECONFIG_ENV, Target, TargetError, target_from_env

REPO_ROOT = Path(__file__).resolve().parents[1]

CRDS_DIR = REPO_ROOT / "crds"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first (support/schedule.py), so that `make test`'s two workers
    finish together; the tests inside a module keep their order."""
    items[:] = longest_first(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Check the test target and obtain the control-plane binaries before the first test, when
    integration or e2e tests run.

    The first build takes minutes; done here it is not charged to one test's timeout, and its
    progress is printed. A failure stops the session: the integration tier is never skipped.
    """
    wanted = ("integration", "e2e")
    if not any(item.get_closest_marker(m) for item in session.items for m in wanted):
        return
    try:
        target = target_from_env(os.environ)
    except TargetError as error:
        pytest.exit(f"the integration tests cannot run: {error}", returncode=4)
    if target.kubeconfig is None:
        try:
            resolve_binaries()
        except BinariesError as error:
            pytest.exit(f"the integration tests need the control plane: {error}", returncode=1)


@pytest.fixture(scope="session")
def target() -> Target:
    """Which cluster and operator this session tests (default: a local cluster it starts)."""
    try:
        return target_from_env(os.environ)
    except TargetError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def dev_cluster(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    """The local cluster: started for the session, or the running one MODELSHIP_TEST_KUBECONFIG
    names (left running)."""
    if target.kubeconfig is not None:
        yield _existing_dev_cluster(target.kubeconfig)
        return
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


def _existing_dev_cluster(kubeconfig: Path) -> DevCluster:
    cluster = DevCluster(kubeconfig.parent)
    if cluster.kubeconfig != kubeconfig or not cluster.status().running:
        pytest.fail(
            f"this test reads the local node's files, so it needs a local cluster; "
            f"{KUBECONFIG_ENV}={kubeconfig} is not one that `modelship dev up` runs"
        )
    return cluster


def _local_registry_catalog(target: Target, request: pytest.FixtureRequest) -> str | None:
    """The local cluster's registry catalog, for modules that set REGISTRY_CATALOG = True.

    Only a local cluster runs one; on another target (kind) such a module uses the default,
    volume catalog.
    """
    if target.kubeconfig is None:
        cluster: DevCluster = request.getfixturevalue("dev_cluster")
        return cluster.catalog_uri
    uri_file = target.kubeconfig.parent / "catalog-uri"
    return uri_file.read_text().strip() if uri_file.exists() else None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def host_for_pods(target: Target, request: pytest.FixtureRequest) -> str:
    """Where a pod reaches a server a test starts on this machine (a dataset over HTTP)."""
    if target.kubeconfig is None:
        cluster: DevCluster = request.getfixturevalue("dev_cluster")
        return cluster.host_for_pods
    return _existing_dev_cluster(target.kubeconfig).host_for_pods


@pytest.fixture(scope="session")
def cluster_kubeconfig(target: Target, request: pytest.FixtureRequest) -> Path:
    """The cluster-admin kubeconfig of the cluster under test; the local cluster starts only
    when no existing one is named."""
    if target.kubeconfig is not None:
        return target.kubeconfig
    cluster: DevCluster = request.getfixturevalue("dev_cluster")
    return cluster.kubeconfig


@pytest.fixture(scope="session")
def kubectl(cluster_kubeconfig: Path) -> Kubectl:
    """`kubectl(...)` against the cluster under test (support/kubectl.py)."""
    return Kubectl(cluster_kubeconfig)


@pytest.fixture(scope="session")
def kube_api(cluster_kubeconfig: Path) -> Iterator[kubernetes.client.ApiClient]:
    """A `kubernetes` ApiClient for the cluster under test (cluster-admin)."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(cluster_kubeconfig), client_configuration=configuration
    )
    with kubernetes.client.ApiClient(configuration) as api:
        yield api


@pytest.fixture(scope="session")
def kube(cluster_kubeconfig: Path) -> Iterator[Kube]:
    """The operator's own client layer on the cluster under test (integration and e2e tests)."""
    client = Kube(load_api_client(str(cluster_kubeconfig)))
    yield client
    client.close()


@pytest.fixture
def namespace(kube_api: kubernetes.client.ApiClient) -> Iterator[str]:
    """A fresh namespace enforcing the restricted Pod Security Standard, as a model namespace
    should: every pod the operator creates in it is checked by the API server. Yielded once its
    `default` ServiceAccount and the CA ConfigMap pods mount exist (so pods are admitted)."""
    core = kubernetes.client.CoreV1Api(kube_api)
    name = create_model_namespace(core, f"t-{uuid.uuid4().hex[:8]}")
    yield name
    core.delete_namespace(name)


@pytest.fixture
def plain_namespace(kube_api: kubernetes.client.ApiClient) -> Iterator[str]:
    """A namespace enforcing no Pod Security level, for tests of the cluster and the local node
    themselves, whose pods include what a model namespace refuses (foreign images without a
    security context, an nfs volume). Yielded once pods can be admitted in it."""
    core = kubernetes.client.CoreV1Api(kube_api)
    name = create_namespace(core, f"node-{uuid.uuid4().hex[:8]}")
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="module")
def in_cluster_operator(
    request: pytest.FixtureRequest, target: Target, kube: Kube, kubectl: Kubectl
) -> Iterator[InClusterOperator]:
    """The operator inside the cluster under test, one per test module.

    Deployed from manifests/default and removed afterwards; or, with
    MODELSHIP_TEST_OPERATOR=in-cluster, the one already there, left in place. A module may set
    `OPERATOR_ENV` (e.g. a short drift interval): the operator runs with it for that module (an
    operator deployed beforehand gets it set for the module and then its own environment back).
    """
    operator = InClusterOperator(kube, kubectl)
    env: dict[str, str] = dict(getattr(request.module, "OPERATOR_ENV", {}))
    if getattr(request.module, "REGISTRY_CATALOG", False) and (
        uri := _local_registry_catalog(target, request)
    ):
        env["MODELSHIP_OPERATOR_CATALOG_URI"] = uri
    try:
        if target.operator_deployed:
            operator.configure(env)
        else:
            operator.deploy(env)
        yield operator
    finally:
        if target.operator_deployed:
            operator.restore()
        else:
            operator.remove()
