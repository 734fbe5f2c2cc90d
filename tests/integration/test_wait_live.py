"""`modelship wait` against the local cluster: 0 when reached, 1 at once when it cannot be, 3 on
timeout, and the acceptance report as JUnit XML a CI system reads."""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS
from support.factories import iris_deployment, iris_model
from support.operator import OperatorProcess

pytestmark = pytest.mark.integration


def wait(kubeconfig: Path, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, as a pipeline step runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "modelship.cli",
            "wait",
            "-n",
            namespace,
            "--kubeconfig",
            str(kubeconfig),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )


def junit_cases(path: Path) -> tuple[ET.Element, dict[str, ET.Element]]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = {case.get("name", ""): case for case in suite.findall("testcase")}
    assert suite.get("tests") == str(len(cases)) and cases
    assert all(case.get("classname", "").startswith("modelship.") for case in cases.values())
    failed = sum(1 for case in cases.values() if case.find("failure") is not None)
    assert suite.get("failures") == str(failed)
    return suite, cases


def test_wait_exits_0_1_and_3_and_writes_junit(
    operator: OperatorProcess, kube: Kube, namespace: str, cluster_kubeconfig: Path, tmp_path: Path
) -> None:
    kube.create(MODELS, namespace, iris_model("iris"))
    kube.create(MODEL_DEPLOYMENTS, namespace, iris_deployment("good", model="iris"))
    # A latency bar no server meets: acceptance fails, so AwaitingApproval can never come.
    strict = iris_deployment("strict", model="iris")
    strict["spec"]["test"]["acceptance"]["maxLatencyMs"] = 0.001
    kube.create(MODEL_DEPLOYMENTS, namespace, strict)

    passed = tmp_path / "passed.xml"
    done = wait(
        cluster_kubeconfig,
        namespace,
        "deployment/good",
        "--for",
        "AwaitingApproval",
        "--version",
        "1",
        "--timeout",
        "5m",
        "--junit",
        str(passed),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "version 1 passed its tests" in done.stdout
    suite, cases = junit_cases(passed)
    assert {"identity", "accuracy", "latencyP95Ms"} <= cases.keys()
    assert suite.get("failures") == "0"

    failed = tmp_path / "failed.xml"
    done = wait(
        cluster_kubeconfig,
        namespace,
        "mdep/strict",
        "--for",
        "AwaitingApproval",
        "--version",
        "1",
        "--timeout",
        "5m",
        "--junit",
        str(failed),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL latencyP95Ms" in done.stderr  # the report is printed
    _, cases = junit_cases(failed)
    assert cases["latencyP95Ms"].find("failure") is not None
    assert cases["identity"].find("failure") is None

    started = time.monotonic()
    done = wait(
        cluster_kubeconfig,
        namespace,
        "deployment/good",
        "--for",
        "Serving",
        "--version",
        "1",
        "--timeout",
        "4s",
    )
    assert done.returncode == 3, done.stdout + done.stderr  # nobody approved
    assert time.monotonic() - started < 60

    done = wait(cluster_kubeconfig, namespace, "model/iris", "--for", "Trained", "--version", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    done = wait(cluster_kubeconfig, namespace, "model/iris", "--for", "Serving")
    assert done.returncode == 2  # a Model does not serve: bad arguments
