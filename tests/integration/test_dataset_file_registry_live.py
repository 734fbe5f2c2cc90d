"""onDatasetChange for a file:// dataset when the catalog is the cluster's registry.

No catalog claim exists then (nothing creates one), so the probe Job must see the file as the
trainer does, without mounting the claim: once it mounted the claim regardless and its pod never
started, and a changed file never trained anything. The file lives on the local node's own
filesystem, which its pods see (outside /tmp, which each pod gets as its own emptyDir).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelship.devcluster.cluster import DevCluster
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import JOBS, MODELS, PVCS, TRAINING_JOBS
from support.datasets import write_iris
from support.factories import iris_model
from support.live import status_of
from support.operator import OperatorProcess, running_operator
from support.waiting import wait_for

pytestmark = pytest.mark.integration
DATASETS = Path("/var/tmp/modelship-tests")


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, dev_cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator with the registry as its catalog, checking datasets every 10 s."""
    yield from running_operator(
        cluster_kubeconfig,
        tmp_path_factory,
        catalog_uri=dev_cluster.catalog_uri,
        dataset_check_interval_seconds="10",
    )


@pytest.fixture
def dataset(namespace: str) -> Iterator[Path]:
    """A file only this test writes, readable by the pods' user."""
    folder = DATASETS / namespace
    folder.mkdir(parents=True, exist_ok=True)
    DATASETS.chmod(0o755)
    folder.chmod(0o755)
    yield folder / "iris.csv"
    shutil.rmtree(folder, ignore_errors=True)


def test_a_changed_file_trains_a_new_version_with_a_registry_catalog(
    operator: OperatorProcess, kube: Kube, namespace: str, dataset: Path
) -> None:
    first = write_iris(dataset, 150)
    dataset.chmod(0o644)
    model = iris_model(
        "iris",
        dataset={"uri": f"file://{dataset}", "target": "species"},
        retraining={"onDatasetChange": True, "cooldownSeconds": 0},
    )
    kube.create(MODELS, namespace, model)

    def status() -> dict[str, object]:
        return status_of(kube, MODELS, namespace, "iris")

    def checked() -> dict[str, object]:
        return dict((status().get("retraining") or {}).get("dataset") or {})  # type: ignore[union-attr]

    def latest() -> int | None:
        return (status().get("latestVersion") or {}).get("version")  # type: ignore[union-attr]

    wait_for(
        lambda: checked().get("validator") == first and latest() == 1,
        timeout=240,
        what=f"version 1 and the file's first digest (dataset check: {checked()})",
    )
    assert checked().get("error") is None
    assert kube.get(PVCS, namespace, "modelship-catalog") is None  # a registry needs no claim
    probes = kube.list(JOBS, namespace, {"app.kubernetes.io/component": "dataset-probe"})
    assert probes
    for probe in probes:
        volumes = probe["spec"]["template"]["spec"].get("volumes") or []
        assert not [v for v in volumes if "persistentVolumeClaim" in v]

    second = write_iris(dataset, 120)
    wait_for(lambda: latest() == 2, timeout=300, what="version 2, trained on the changed file")
    triggers = {
        tj["spec"]["trigger"]
        for tj in kube.list(TRAINING_JOBS, namespace, {"modelship.io/model": "iris"})
    }
    assert triggers == {"spec-change", "dataset-change"}
    assert (status()["latestVersion"] or {})["datasetDigest"] == second  # type: ignore[index]
