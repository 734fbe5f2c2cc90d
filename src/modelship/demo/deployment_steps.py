"""The demo's second half: the test stage and its acceptance, the approval, production, and a
prediction through the production Service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from modelship.api.v1alpha1 import DeploymentStatus
from modelship.demo.model_steps import NAMESPACE
from modelship.demo.narrator import DemoError, Narrator
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, PODS, SERVICES

SAMPLE_ROW = [6.1, 2.8, 4.7, 1.2]


def _status(kube: Kube) -> DeploymentStatus:
    body = kube.get(MODEL_DEPLOYMENTS, NAMESPACE, "iris") or {}
    return DeploymentStatus.model_validate(body.get("status") or {})


def _narrate_test_stage(kube: Kube, say: Narrator) -> None:
    st = _status(kube)
    test = st.test
    if test and test.version:
        say.once(
            f"test-{test.version}",
            f"version {test.version} rolled to Deployment iris-test behind Service {test.service}",
        )
    tested = next((c for c in st.conditions if c.type == "TestPassed"), None)
    if tested and tested.reason == "AcceptanceRunning":
        say.once("acceptance", "test pods ready; acceptance Job running against them")
    if test and test.passed is False:
        raise DemoError(f"the test stage failed: {tested.message if tested else None}")


def watch_test_stage(kube: Kube, say: Narrator) -> DeploymentStatus:
    say.step("Test stage: rolled out, checked by an acceptance Job")

    def awaiting() -> DeploymentStatus | None:
        status = _status(kube)
        return status if status.phase == "AwaitingApproval" else None

    status: DeploymentStatus = say.wait(
        "acceptance to pass", awaiting, 300, lambda: _narrate_test_stage(kube, say)
    )
    test = status.test
    if test is None or test.report is None:
        raise DemoError(f"AwaitingApproval without a test report: {status.to_wire()}")
    for check in test.report.checks:
        say.say(
            f"  check {check.name}: {check.value} {check.bound or ''} "
            f"{'passed' if check.passed else 'FAILED'}"
        )
    say.say(
        f"phase AwaitingApproval: production is untouched until version {test.version} is approved"
    )
    return status


def approve_and_promote(kubeconfig: Path, kube: Kube, say: Narrator) -> DeploymentStatus:
    say.step("Approval: modelship approve iris -n modelship-demo")
    command = [sys.executable, "-m", "modelship.cli", "approve", "iris", "-n", NAMESPACE,
               "--kubeconfig", str(kubeconfig)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise DemoError(f"modelship approve failed: {result.stderr.strip()}")
    say.say(result.stdout.strip())

    def serving() -> DeploymentStatus | None:
        st = _status(kube)
        prod = st.production
        if prod and prod.version:
            say.once(
                "promoting", f"promoting version {prod.version}: surge rollout, maxUnavailable 0"
            )
        ready = prod is not None and bool(prod.ready_replicas)
        return st if st.phase == "Serving" and ready else None

    status: DeploymentStatus = say.wait("production to serve", serving, 180)
    prod = status.production
    assert prod is not None  # serving() returns only a status with ready production pods
    say.say(
        f"production serves version {prod.version} with {prod.ready_replicas} "
        f"ready replicas (promoted {prod.promoted_at})"
    )
    return status


def production_address(kube: Kube) -> tuple[str, bool]:
    """Where a user calls production: its Service's ClusterIP (kube-proxy routes it to a ready
    production pod). On a local cluster without routed Services (not run as root) no ClusterIP
    leads anywhere, so a ready production pod's own address stands in. The flag: routed."""
    service = kube.get(SERVICES, NAMESPACE, "iris") or {}
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    if cluster_ip and _routed(cluster_ip):
        return f"{cluster_ip}:80", True
    selector = {"modelship.io/deployment": "iris", "modelship.io/stage": "production"}
    pods = [p for p in kube.list(PODS, NAMESPACE, selector) if (p.get("status") or {}).get("podIP")]
    if not pods:
        raise DemoError("no production pod has an address")
    return f"{pods[0]['status']['podIP']}:8080", False


def _routed(address: str) -> bool:
    """Whether the address is routed into a local cluster's service network (and so never
    towards the machine's default route)."""
    route = subprocess.run(["ip", "route", "get", address], capture_output=True, text=True)
    return route.returncode == 0 and " dev modelship" in route.stdout


def predict(kube: Kube, say: Narrator) -> bool:
    """One prediction through the production Service; whether the cluster routes Services."""
    say.step("Prediction from the production endpoint")
    address, routed = production_address(kube)
    url = f"http://{address}/v2/models/iris/infer"
    body = {
        "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": SAMPLE_ROW}],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    answer = httpx.post(url, json=body, timeout=10, trust_env=False)
    if answer.status_code != 200:
        raise DemoError(f"prediction failed: HTTP {answer.status_code} {answer.text}")
    outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
    say.say(f"POST {url}")
    say.say(
        f"  input {SAMPLE_ROW} -> class {outputs['predict'][0]}, probabilities "
        f"{[round(p, 3) for p in outputs.get('predict_proba', [])]}"
    )
    if not routed:
        say.say("  (this cluster routes no Services, not run as root: a pod's address was used)")
    return routed
