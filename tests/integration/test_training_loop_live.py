"""Operator part 1 on the local cluster: Models train through real Jobs and real trainer pods."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import JOBS, MODELS, PODS, TRAINING_JOBS
from support.factories import iris_model
from support.kubectl import Kubectl
from support.live import retrain, wait_for_status
from support.operator import OperatorProcess
from support.waiting import wait_for

pytestmark = pytest.mark.integration

TRAINING = {"timeoutSeconds": 300, "maxAttempts": 3}


def model(name: str, **spec: Any) -> dict[str, Any]:
    """The iris Model, seeded for these tests and bounded in time and attempts."""
    return iris_model(name, seed=1, **{"training": TRAINING, **spec})


def tjs_of(kube: Kube, namespace: str, model_name: str) -> list[dict[str, Any]]:
    return [
        t
        for t in kube.list(TRAINING_JOBS, namespace)
        if t["spec"]["modelRef"]["name"] == model_name
    ]


def finished(tj: dict[str, Any]) -> bool:
    return (tj.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def test_an_iris_model_trains_once_and_reports_its_version(
    operator: OperatorProcess, kube: Kube, namespace: str, kubectl: Kubectl
) -> None:
    started = time.monotonic()
    kube.create(MODELS, namespace, model("iris"))
    status = wait_for_status(kube, MODELS, namespace, "iris", lambda s: s.get("latestVersion"))
    elapsed = time.monotonic() - started
    tjs = tjs_of(kube, namespace, "iris")
    assert len(tjs) == 1
    tj_status = tjs[0]["status"]
    assert tj_status["phase"] == "Succeeded" and tj_status["attempts"] == 1
    assert tj_status["artifact"]["digest"].startswith("sha256:")
    assert tj_status["gates"] == [
        {
            "metric": "accuracy",
            "value": tj_status["metrics"]["accuracy"],
            "bound": ">= 0.8",
            "passed": True,
        }
    ]
    assert status["latestVersion"]["version"] == tj_status["version"]
    assert status["latestVersion"]["digest"] == tj_status["artifact"]["digest"]
    assert status["phase"] == "Ready"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    jobs = kube.list(JOBS, namespace, {"modelship.io/trainingjob": tjs[0]["metadata"]["name"]})
    assert len(jobs) == 1
    columns = kubectl("get", "mdl,tj", "-n", namespace).stdout
    assert "accuracy=" in columns and "Succeeded" in columns and "spec-change" in columns
    print(f"\niris: Model applied -> latestVersion in {elapsed:.1f}s")
    # steady state: with nothing changing, the operator writes nothing (resourceVersions hold)
    before = [
        kube.get(r, namespace, n)["metadata"]["resourceVersion"]
        for r, n in ((MODELS, "iris"), (TRAINING_JOBS, tjs[0]["metadata"]["name"]))
    ]
    time.sleep(8)  # an absence of writes can only be observed over time
    after = [
        kube.get(r, namespace, n)["metadata"]["resourceVersion"]
        for r, n in ((MODELS, "iris"), (TRAINING_JOBS, tjs[0]["metadata"]["name"]))
    ]
    assert before == after


def test_a_quiet_model_retrains_when_asked_by_annotation(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    """`modelship.io/retrain` on a Model nothing else touches (no Deployment reading drift, no
    schedule) is handled as it is set. Kopf took every `modelship.io/` annotation for its own
    bookkeeping and never ran the update handler: the request waited for an unrelated event (here
    Kopf's own patch of the finished TrainingJob, about a minute later) or, without one, forever."""
    kube.create(MODELS, namespace, model("quiet"))
    wait_for_status(kube, MODELS, namespace, "quiet", lambda s: s.get("latestVersion"))
    time.sleep(2)  # past the TrainingJob's last events, which would reconcile the Model anyway
    asked = time.monotonic()
    retrain(kube, namespace, "quiet", "again")

    def manual() -> list[dict[str, Any]]:
        return [t for t in tjs_of(kube, namespace, "quiet") if t["spec"]["trigger"] == "manual"]

    wait_for(manual, timeout=30, what="a TrainingJob for the retrain annotation")
    print(f"\nquiet: retrain annotation -> TrainingJob in {time.monotonic() - asked:.1f}s")
    status = wait_for_status(
        kube, MODELS, namespace, "quiet",
        lambda s: (s.get("latestVersion") or {}).get("version") == 2, 120,
    )  # fmt: skip
    assert status["phase"] == "Ready" and len(manual()) == 1


def test_a_gate_that_cannot_be_met_records_the_version_but_not_latest(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    body = model(
        "stump",
        algorithm={"name": "decision_tree", "params": {"max_depth": 1}},
        evaluation={"testFraction": 0.3, "seed": 1, "gates": [{"metric": "accuracy", "min": 0.95}]},
    )
    kube.create(MODELS, namespace, body)
    status = wait_for_status(
        kube, MODELS, namespace, "stump", lambda s: s.get("versions") and s.get("phase") == "Failed"
    )
    assert "latestVersion" not in status
    trained = next(c for c in status["conditions"] if c["type"] == "Trained")
    assert trained["status"] == "False" and trained["reason"] == "GateFailed"
    assert "accuracy" in trained["message"] and ">= 0.95" in trained["message"]
    assert status["versions"][0]["passedGates"] is False


def test_spec_changes_are_queued_and_bounded(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    kube.create(MODELS, namespace, model("churn"))
    wait_for(lambda: tjs_of(kube, namespace, "churn"), what="first TrainingJob")
    for n in range(10):  # ten rapid changes while the first training runs
        kube.patch(
            MODELS,
            namespace,
            "churn",
            {"spec": {"algorithm": {"params": {"n_estimators": 10 + n}}}},
        )
    final = wait_for_status(
        kube,
        MODELS,
        namespace,
        "churn",
        lambda s: (
            s.get("observedGeneration") == 11
            and not s.get("activeTrainingJob")
            and all(finished(t) for t in tjs_of(kube, namespace, "churn"))
        ),
        timeout=180,
    )
    tjs = tjs_of(kube, namespace, "churn")
    assert 2 <= len(tjs) <= 3, [t["metadata"]["name"] for t in tjs]
    newest = max(tjs, key=lambda t: t["spec"]["modelGeneration"])
    assert newest["spec"]["snapshot"]["algorithm"]["params"] == {"n_estimators": 19}
    assert final["latestVersion"]["trainingJob"] == newest["metadata"]["name"]
    # a change that does not touch training (the retraining policy) trains nothing
    kube.patch(MODELS, namespace, "churn", {"spec": {"retraining": {"historyLimit": 4}}})
    wait_for_status(kube, MODELS, namespace, "churn", lambda s: s.get("observedGeneration") == 12)
    assert len(tjs_of(kube, namespace, "churn")) == len(tjs)


def test_bad_input_fails_once_with_a_reason(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    body = model("nodata", dataset={"uri": "file:///nowhere/data.csv", "target": "y"})
    kube.create(MODELS, namespace, body)
    status = wait_for_status(
        kube, MODELS, namespace, "nodata", lambda s: s.get("phase") == "Failed"
    )
    (tj,) = tjs_of(kube, namespace, "nodata")
    assert tj["status"]["phase"] == "Failed" and tj["status"]["attempts"] == 1
    assert tj["status"]["failure"]["reason"] == "DatasetNotFound"
    assert "/nowhere/data.csv" in tj["status"]["failure"]["message"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "DatasetNotFound"


class FlakyCSV(BaseHTTPRequestHandler):
    """Serves a CSV, but answers 503 to the first request: a dataset server briefly down."""

    calls = 0

    def do_GET(self) -> None:
        type(self).calls += 1
        if type(self).calls == 1:
            self.send_response(503)
            self.end_headers()
            return
        rows = ["a,b,y"] + [f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(200)]
        data = ("\n".join(rows) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_transient_failure_is_retried_and_then_succeeds(
    operator: OperatorProcess, kube: Kube, namespace: str, host_for_pods: str
) -> None:
    server = HTTPServer((host_for_pods, 0), FlakyCSV)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://{host_for_pods}:{server.server_address[1]}/data.csv"
        kube.create(
            MODELS,
            namespace,
            model("flaky", dataset={"uri": url, "target": "y"}, evaluation={"gates": []}),
        )
        wait_for_status(
            kube, MODELS, namespace, "flaky", lambda s: s.get("latestVersion"), timeout=120
        )
    finally:
        server.shutdown()
    (tj,) = tjs_of(kube, namespace, "flaky")
    assert tj["status"]["attempts"] == 2
    assert (
        len(kube.list(JOBS, namespace, {"modelship.io/trainingjob": tj["metadata"]["name"]})) == 2
    )


def test_killing_the_operator_mid_training_neither_duplicates_nor_loses_work(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    kube.create(MODELS, namespace, model("crash"))
    wait_for(
        lambda: [
            t for t in tjs_of(kube, namespace, "crash") if (t.get("status") or {}).get("jobName")
        ],
        what="the training Job",
    )
    operator.kill()
    operator.start()
    wait_for_status(kube, MODELS, namespace, "crash", lambda s: s.get("latestVersion"))
    tjs = tjs_of(kube, namespace, "crash")
    assert len(tjs) == 1
    assert len(kube.list(JOBS, namespace, {"modelship.io/model": "crash"})) == 1


def test_deleting_the_model_removes_its_training_jobs_jobs_and_pods(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    kube.create(MODELS, namespace, model("gone"))
    wait_for_status(kube, MODELS, namespace, "gone", lambda s: s.get("latestVersion"))
    kube.delete(MODELS, namespace, "gone", propagation="Foreground")
    wait_for(
        lambda: (
            not tjs_of(kube, namespace, "gone")
            and not kube.list(JOBS, namespace, {"modelship.io/model": "gone"})
            and not kube.list(PODS, namespace, {"modelship.io/model": "gone"})
        ),
        timeout=90,
        what="garbage collection of the Model's children",
    )
