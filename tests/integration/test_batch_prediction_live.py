"""BatchPrediction on the local cluster: a production version scores the iris table in four
shards (an Indexed Job, two at a time), the output is in input order and equals the stored
estimator in-process; an unapproved version is refused unless the run is a backtest; a run over
the parts of an earlier one redoes only the part that went missing."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from sklearn.datasets import load_iris

from modelship.api.v1alpha1 import API_VERSION, BatchPredictionSpec
from modelship.catalog import open_catalog
from modelship.client import Client
from modelship.contracts.batch import BatchReport
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import BATCH_PREDICTIONS, MODEL_DEPLOYMENTS, MODELS, PODS
from modelship.operator.settings import OperatorSettings
from support.factories import iris_deployment, iris_model
from support.live import (
    approve,
    awaiting_approval,
    catalog_dir,
    status_of,
    wait_for_status,
)
from support.operator import OperatorProcess
from support.waiting import wait_for

pytestmark = pytest.mark.integration
MOUNT = OperatorSettings().catalog_mount_path
SHARDS = 4


def batch(name: str, version: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "BatchPrediction",
        "metadata": {"name": name},
        "spec": {
            "model": "iris",
            "version": version,
            "input": {"uri": "builtin:iris", "passthrough": ["target"]},
            "sharding": {"rowsPerShard": 40, "parallelism": 2, "retriesPerShard": 1},
            **spec,
        },
    }


def finished(status: dict[str, Any]) -> bool:
    return status.get("phase") in ("Succeeded", "Failed")


def shard_reports(kube: Kube, namespace: str, job: str) -> list[BatchReport]:
    reports = []
    for pod in kube.list(PODS, namespace, {"job-name": job}):
        for container in pod["status"].get("containerStatuses") or []:
            message = ((container.get("state") or {}).get("terminated") or {}).get("message")
            if (report := BatchReport.from_message(message)) is not None and report.ok:
                reports.append(report)
    return reports


def wait_cli(kubeconfig: Path, namespace: str, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelship.cli", "wait", "-n", namespace, "--kubeconfig",
         str(kubeconfig), target, "--for", "Succeeded", "--timeout", "5m"],
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip


def test_batch_prediction_scores_in_order_and_resumes(
    operator: OperatorProcess, kube: Kube, namespace: str, cluster_kubeconfig: Path
) -> None:
    host = catalog_dir(kube, namespace)
    kube.create(MODELS, namespace, iris_model("iris"))
    kube.create(MODEL_DEPLOYMENTS, namespace, iris_deployment("iris"))
    wait_for_status(kube, MODEL_DEPLOYMENTS, namespace, "iris", awaiting_approval(1), 300,
                    describe=operator.tail)  # fmt: skip

    # Tested but not approved: refused by default, accepted as a backtest (and marked so). The
    # backtest is one shard (sharding is the nightly run's subject); the version is approved
    # once the backtest has resolved it, and its production rollout overlaps the backtest.
    kube.create(BATCH_PREDICTIONS, namespace, batch("early", {"number": 1}))
    early = wait_for_status(kube, BATCH_PREDICTIONS, namespace, "early", finished, 60)
    assert early["phase"] == "Failed" and early["failure"]["reason"] == "VersionNotApproved"
    one_shard = {"rowsPerShard": 150, "parallelism": 1, "retriesPerShard": 1}
    backtest_run = batch("backtest", {"number": 1}, requireApproved=False, sharding=one_shard)
    kube.create(BATCH_PREDICTIONS, namespace, backtest_run)
    wait_for_status(kube, BATCH_PREDICTIONS, namespace, "backtest",
                    lambda s: s.get("resolved") or finished(s), 60)  # fmt: skip

    approve(kube, namespace, "iris")
    backtest = wait_for_status(kube, BATCH_PREDICTIONS, namespace, "backtest", finished, 300,
                               describe=operator.tail)  # fmt: skip
    assert backtest["phase"] == "Succeeded", backtest
    assert backtest["resolved"]["approved"] is False
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris",
        lambda s: (s.get("production") or {}).get("version") == 1 and s.get("phase") == "Serving",
        300, describe=operator.tail,
    )  # fmt: skip

    shared = f"file://{MOUNT}/outputs/iris-nightly"
    kube.create(BATCH_PREDICTIONS, namespace,
                batch("nightly", {"stage": "production"}, output={"uri": shared}))  # fmt: skip
    # Mid-run: the operator is SIGKILLed and one running shard pod is deleted; the Job retries
    # the shard, the restarted operator picks the run up where its status says it is.
    victim_pod = wait_for(
        lambda: next((p["metadata"]["name"] for p in kube.list(
            PODS, namespace, {"job-name": "nightly-score-1"})
            if p["status"].get("phase") == "Running"), None),
        timeout=120, what="a running shard pod", describe=operator.tail,
    )  # fmt: skip
    operator.kill()
    kube.delete(PODS, namespace, victim_pod)
    operator.start()
    done = wait_cli(cluster_kubeconfig, namespace, "bp/nightly")
    assert done.returncode == 0, done.stdout + done.stderr + operator.tail()
    status = status_of(kube, BATCH_PREDICTIONS, namespace, "nightly")
    resolved = status["resolved"]
    model_status = status_of(kube, MODELS, namespace, "iris")
    assert resolved["version"] == 1 and resolved["approved"] is True
    assert resolved["digest"] == model_status["versions"][0]["digest"]
    assert resolved["approvedBy"] and (resolved["rows"], resolved["shards"]) == (150, SHARDS)
    assert status["shards"]["succeeded"] == SHARDS
    scored = shard_reports(kube, namespace, "nightly-score-1")
    assert set(r.shard for r in scored) == set(range(SHARDS))

    out = host / "outputs" / "iris-nightly"
    text = (out / "predictions.csv").read_bytes()
    assert status["output"]["digest"] == "sha256:" + hashlib.sha256(text).hexdigest()
    assert status["output"]["rows"] == 150 and status["output"].get("errorRows", 0) == 0
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    iris = load_iris()
    assert [r["id"] for r in rows] == [str(i) for i in range(150)]
    assert [r["target"] for r in rows] == [str(t) for t in iris.target]
    version = open_catalog(str(host)).open_verified(namespace, "iris", 1)
    estimator = version.load_model()
    assert [r["prediction"] for r in rows] == [str(v) for v in estimator.predict(iris.data)]
    proba = np.array([[float(r[f"proba_{c}"]) for c in (0, 1, 2)] for r in rows])
    np.testing.assert_allclose(proba, estimator.predict_proba(iris.data), rtol=1e-9)

    # Malformed rows: under maxFailedRows they land in the errors part, over it the run fails
    # naming them. (These two runs go on while the resumed run below scores.)
    names = list(load_iris().feature_names)
    table = host / "data" / "malformed.csv"
    table.parent.mkdir(parents=True, exist_ok=True)
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer", *names])
        for i, row in enumerate(iris.data[:60]):
            cells = ["n/a" if i in (7, 33) and j == 2 else str(v) for j, v in enumerate(row)]
            writer.writerow([f"cust-{i}", *cells])
    source = {"uri": f"file://{MOUNT}/data/malformed.csv", "idColumn": "customer"}
    kube.create(BATCH_PREDICTIONS, namespace,
                batch("under", {"number": 1}, input=source, maxFailedRows=2))  # fmt: skip
    kube.create(BATCH_PREDICTIONS, namespace,
                batch("over", {"number": 1}, input=source, maxFailedRows=1))  # fmt: skip
    # The same run again over the same directory with one part gone: only that shard scores.
    victim = sorted((out / ".parts").glob("*.part"))[2]
    victim.unlink()
    # (Submitted and awaited through the SDK, as a pipeline step would.)
    again_spec = batch("again", {"digest": resolved["digest"]}, output={"uri": shared})["spec"]
    with Client(namespace=namespace, kubeconfig=str(cluster_kubeconfig), progress=False) as ms:
        again = ms.score("again", BatchPredictionSpec.model_validate(again_spec), timeout=300)
    assert again.status.output is not None
    assert again.status.output.digest == status["output"]["digest"]
    redone = shard_reports(kube, namespace, "again-score-1")
    assert sorted(r.shard or 0 for r in redone if not r.reused) == [2]
    assert sorted(r.shard or 0 for r in redone if r.reused) == [0, 1, 3]

    under = wait_for_status(kube, BATCH_PREDICTIONS, namespace, "under", finished, 300,
                            describe=operator.tail)  # fmt: skip
    assert under["phase"] == "Succeeded", under
    assert (under["output"]["rows"], under["output"]["errorRows"]) == (58, 2)
    errors_path = Path(
        unquote(urlparse(under["output"]["errorsRef"]).path).replace(MOUNT, str(host))
    )
    errors = [json.loads(line) for line in errors_path.read_text().splitlines()]
    assert [(e["row"], e["id"]) for e in errors] == [(7, "cust-7"), (33, "cust-33")]
    assert all("'n/a'" in e["reason"] and "petal length" in e["reason"] for e in errors)
    over = wait_for_status(kube, BATCH_PREDICTIONS, namespace, "over", finished, 300,
                           describe=operator.tail)  # fmt: skip
    assert over["phase"] == "Failed" and over["failure"]["reason"] == "TooManyFailedRows"
    assert "row 7 (id cust-7)" in over["failure"]["message"]
