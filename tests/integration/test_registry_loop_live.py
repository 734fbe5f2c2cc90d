"""The loop on the local cluster with its registry as the catalog: no volume anywhere.

Two namespaces train into one registry, the test stage and acceptance pull their version by
manifest digest into an emptyDir, production serves after approval, a retrain goes through test
again; and a blob changed in the registry keeps a stage from ever becoming ready.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import kubernetes
import pytest

from conftest import running_operator
from modelship.catalog import MODEL_FILE, OciCatalog, artifacts, open_catalog
from modelship.devcluster.cluster import DevCluster
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import (
    APPS_DEPLOYMENTS,
    JOBS,
    MODEL_DEPLOYMENTS,
    MODELS,
    PVCS,
)
from support.accounts import create_model_namespace
from support.factories import iris_deployment, iris_model
from support.live import (
    approve,
    awaiting_approval,
    condition,
    infer,
    production_pod_ips,
    production_version,
    retrain,
    wait_for_status,
)
from support.operator import OperatorProcess

pytestmark = pytest.mark.integration

# Generous bounds: the machine running the suite may be busy (waits end as soon as the state is
# reached, so a fast machine does not pay for them).


@pytest.fixture(scope="module")
def catalog_uri(dev_cluster: DevCluster) -> str:
    return dev_cluster.catalog_uri


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, catalog_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator as a local process, told to use the cluster's registry as its catalog."""
    # No rollback is tested here: give a loaded machine time to start a serving pod.
    yield from running_operator(
        cluster_kubeconfig, tmp_path_factory, rollout_deadline_seconds="90", catalog_uri=catalog_uri
    )


@pytest.fixture
def second_namespace(kube_api: kubernetes.client.ApiClient) -> Iterator[str]:
    core = kubernetes.client.CoreV1Api(kube_api)
    name = create_model_namespace(core, f"t2-{uuid.uuid4().hex[:8]}")
    yield name
    core.delete_namespace(name)


def registry_catalog(uri: str) -> OciCatalog:
    catalog = open_catalog(uri)
    assert isinstance(catalog, OciCatalog)
    return catalog


def pod_volumes(kube: Kube, namespace: str) -> list[dict[str, object]]:
    bodies = kube.list(APPS_DEPLOYMENTS, namespace) + kube.list(JOBS, namespace)
    return [v for b in bodies for v in b["spec"]["template"]["spec"].get("volumes", [])]


@pytest.mark.timeout(1500)
def test_two_namespaces_share_the_registry_and_nothing_mounts_a_volume(
    operator: OperatorProcess,
    kube: Kube,
    namespace: str,
    second_namespace: str,
    catalog_uri: str,
    tmp_path: Path,
) -> None:
    for ns in (namespace, second_namespace):
        kube.create(MODELS, ns, iris_model("iris"))
        kube.create(MODEL_DEPLOYMENTS, ns, iris_deployment("iris"))
    for ns in (namespace, second_namespace):
        status = wait_for_status(kube, MODEL_DEPLOYMENTS, ns, "iris", awaiting_approval(1), 420)
        assert status["test"]["passed"] is True
        assert (
            status["test"]["artifact"].startswith("oci://")
            and "@sha256:" in status["test"]["artifact"]
        )

    catalog = registry_catalog(catalog_uri)
    catalog.pull_dir = tmp_path
    assert {(namespace, "iris"), (second_namespace, "iris")} <= set(catalog.list_models())

    approve(kube, namespace, "iris")
    status = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris",
        lambda s: s.get("phase") == "Serving" and (s.get("production") or {}).get("readyReplicas"),
        300,
    )  # fmt: skip
    pinned = status["production"]["artifact"]
    opened = catalog.open_verified(
        namespace, "iris", 1, status["production"]["digest"], pinned=pinned
    )
    estimator = artifacts.load_model((opened.path / MODEL_FILE).read_bytes())
    row = [5.9, 3.0, 5.1, 1.8]
    with httpx.Client(timeout=10) as client:
        (predicted,) = infer(client, production_pod_ips(kube, namespace, "iris")[0], "iris", [row])
    assert predicted == estimator.predict([row])[0]

    # a retrain goes through the test stage again; production keeps version 1 meanwhile
    retrain(kube, namespace, "iris", "1")
    wait_for_status(kube, MODEL_DEPLOYMENTS, namespace, "iris", awaiting_approval(2), 420)
    assert production_version(kube, namespace, "iris") == "1"
    assert catalog.version_numbers(namespace, "iris") == [1, 2]

    for ns in (namespace, second_namespace):
        assert kube.list(PVCS, ns) == []
        volumes = pod_volumes(kube, ns)
        assert volumes and not any("persistentVolumeClaim" in v for v in volumes)


def test_a_blob_changed_in_the_registry_keeps_the_stage_from_becoming_ready(
    operator: OperatorProcess, kube: Kube, namespace: str, dev_cluster: DevCluster, catalog_uri: str
) -> None:
    kube.create(MODELS, namespace, iris_model("fragile"))
    wait_for_status(
        kube,
        MODELS,
        namespace,
        "fragile",
        lambda s: s.get("latestVersion"),
        timeout=300,
        what="version 1",
    )
    digest = registry_catalog(catalog_uri).get(namespace, "fragile", 1).files[MODEL_FILE]
    hexdigest = digest.removeprefix("sha256:")
    blob = (
        dev_cluster.dev_dir
        / "registry/docker/registry/v2/blobs/sha256"
        / hexdigest[:2]
        / hexdigest
        / "data"
    )
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))

    kube.create(MODEL_DEPLOYMENTS, namespace, iris_deployment("fragile"))
    status = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "fragile", lambda s: s.get("phase") == "Failed", 300
    )

    assert condition(status, "TestPassed")["reason"] == "TestStageNotReady"
    assert production_version(kube, namespace, "fragile") is None
