"""file:// datasets: the probe Job, the probe itself, and the operator reading its result."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelship.contracts.dataset import DatasetProbeEnv
from modelship.operator.kube.resources import JOBS, MODELS, PODS
from modelship.operator.model.builders import build_dataset_probe_job
from modelship.operator.model.dataset_jobs import FileDatasetJobs
from modelship.operator.settings import OperatorSettings
from modelship.training.probe import ProbeSettings, probe
from support.factories import iris_model
from support.fake_kube import FakeKube

SETTINGS = OperatorSettings(image="modelship:dev")
URI = "file:///var/lib/modelship/catalog/data/iris.csv"


def model() -> dict[str, object]:
    return iris_model(metadata={"namespace": "ml", "uid": "u-1"})


def test_the_job_mounts_the_catalog_read_only_and_tells_the_probe_its_uri(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = build_dataset_probe_job(model(), URI, 17, SETTINGS)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "modelship.training.probe"]
    assert container["volumeMounts"][0]["readOnly"] is True
    assert pod["volumes"][0]["persistentVolumeClaim"]["readOnly"] is True
    assert pod["automountServiceAccountToken"] is False
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    # The contract: what the operator sets is what the probe reads.
    for entry in container["env"]:
        monkeypatch.setenv(entry["name"], entry["value"])
    assert ProbeSettings().uri == URI
    assert set(DatasetProbeEnv.model_fields) == {"uri", "termination_message_path"}


def test_the_probe_hashes_the_bytes_as_the_trainer_does_and_reports_a_missing_file(
    tmp_path: Path,
) -> None:
    data = tmp_path / "iris.csv"
    data.write_bytes(b"a,b\n1,2\n")
    assert probe(data.as_uri()).digest == "sha256:" + hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    missing = probe((tmp_path / "gone.csv").as_uri())
    assert missing.digest is None and "gone.csv" in str(missing.error)
    assert probe("http://example.com/x.csv").error


def finish(kube: FakeKube, job_name: str, message: str) -> None:
    key = ("batch/jobs", "ml", job_name)
    kube.objects[key]["status"] = {"succeeded": 1}
    kube.put(
        PODS,
        {
            "metadata": {
                "name": f"{job_name}-x",
                "namespace": "ml",
                "labels": {"job-name": job_name},
            },
            "status": {"containerStatuses": [{"state": {"terminated": {"message": message}}}]},
        },
    )


def test_a_job_is_started_when_due_and_its_result_read_once_finished() -> None:
    kube = FakeKube()
    kube.put(MODELS, model())
    jobs = FileDatasetJobs(kube, SETTINGS)
    assert jobs.check("ml", "iris", URI, due=True, stamp=1) is None  # started, nothing yet
    (first,) = kube.list(JOBS, "ml")
    assert jobs.check("ml", "iris", URI, due=True, stamp=2) is None  # one at a time
    assert len(kube.list(JOBS, "ml")) == 1
    finish(kube, first["metadata"]["name"], '{"digest":"sha256:aa"}')
    assert jobs.check("ml", "iris", URI, due=False, stamp=3) == ("sha256:aa", None)
    assert jobs.check("ml", "iris", URI, due=True, stamp=4) == ("sha256:aa", None)
    second = [
        j for j in kube.list(JOBS, "ml") if j["metadata"]["name"] != first["metadata"]["name"]
    ]
    assert len(second) == 1  # the next check started
    finish(kube, second[0]["metadata"]["name"], '{"error":"cannot read x"}')
    assert jobs.check("ml", "iris", URI, due=False, stamp=5) == (None, "cannot read x")
    assert [j["metadata"]["name"] for j in kube.list(JOBS, "ml")] == [
        second[0]["metadata"]["name"]
    ]  # the older result was deleted
