"""onDatasetChange for a file:// dataset on the local cluster: a probe Job hashes the file, and a
changed file trains a new version with trigger dataset-change, the operator reading no data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import JOBS, MODELS, TRAINING_JOBS
from modelship.operator.settings import OperatorSettings
from support.datasets import write_iris
from support.factories import iris_model
from support.live import catalog_dir, status_of
from support.operator import OperatorProcess
from support.waiting import wait_for

pytestmark = pytest.mark.integration
MOUNT = OperatorSettings().catalog_mount_path


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator checking datasets every 10 s (the shortest interval it accepts)."""
    process = OperatorProcess(
        cluster_kubeconfig, tmp_path_factory.mktemp("operator"), dataset_check_interval_seconds="10"
    )
    process.start()
    yield process
    process.stop()


def test_a_changed_file_trains_a_new_version(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    data = catalog_dir(kube, namespace) / "data" / "iris.csv"
    first = write_iris(data, 150)
    model = iris_model(
        "iris",
        dataset={"uri": f"file://{MOUNT}/data/iris.csv", "target": "species"},
        retraining={"onDatasetChange": True, "cooldownSeconds": 0},
    )
    kube.create(MODELS, namespace, model)

    def dataset() -> dict[str, object]:
        retraining = status_of(kube, MODELS, namespace, "iris").get("retraining") or {}
        return dict(retraining.get("dataset") or {})

    def latest() -> int | None:
        found = status_of(kube, MODELS, namespace, "iris").get("latestVersion") or {}
        return found.get("version")

    wait_for(
        lambda: dataset().get("validator") == first and latest() == 1,
        timeout=180,
        what="version 1 and the file's first digest",
    )
    status = status_of(kube, MODELS, namespace, "iris")
    assert status["latestVersion"]["version"] == 1
    assert status["latestVersion"]["datasetDigest"] == first  # what the trainer read, too
    assert dataset().get("error") is None
    probes = kube.list(JOBS, namespace, {"app.kubernetes.io/component": "dataset-probe"})
    assert probes and all(
        p["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["readOnly"]
        for p in probes
    )

    second = write_iris(data, 120)
    wait_for(lambda: latest() == 2, timeout=300, what="version 2, trained on the changed file")
    triggers = {
        tj["spec"]["trigger"]
        for tj in kube.list(TRAINING_JOBS, namespace, {"modelship.io/model": "iris"})
    }
    assert triggers == {"spec-change", "dataset-change"}
    status = status_of(kube, MODELS, namespace, "iris")
    assert status["latestVersion"]["datasetDigest"] == second
