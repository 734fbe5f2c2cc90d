"""Script mode on the local cluster: the data scientist's module from a ConfigMap, for real.

The sample (manifests/samples/script-mode) trains a version end to end through a TrainingJob whose
pod runs its three containers (prepare, the code, publish) under the restricted Pod Security
Standard; the version records the code's digest. Bad modules (one that raises, one returning a
non-estimator, one returning a type outside the allowlist, one running past its time-out) each
fail their TrainingJob once with the reason that names what happened, and are never retried as if
the cluster were at fault, although the Model allows three attempts.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelship.catalog.digests import digest_bytes
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import CONFIG_MAPS, JOBS, MODELS, PODS, TRAINING_JOBS
from support.live import condition, wait_for_status
from support.operator import OperatorProcess

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).parents[2] / "manifests" / "samples" / "script-mode"

RAISES = """
def train(data, params):
    raise ValueError("column 'petal' has no variance")
"""

NOT_AN_ESTIMATOR = """
def train(data, params):
    return {"weights": [1, 2, 3]}
"""

UNTRUSTED = """
import operator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer


def train(data, params):
    model = make_pipeline(FunctionTransformer(operator.abs), LogisticRegression(max_iter=500))
    return model.fit(data.X, data.y)
"""

SLEEPS = """
import time


def train(data, params):
    time.sleep(600)
"""

# key in the ConfigMap -> (module, code time-out, the reason, what the message must name)
BAD: dict[str, tuple[str, int, str, str]] = {
    "raises": (RAISES, 300, "CodeRaised", "ValueError: column 'petal' has no variance"),
    "dict": (NOT_AN_ESTIMATOR, 300, "NotAnEstimator", "builtins.dict"),
    "untrusted": (UNTRUSTED, 300, "UntrustedType", "_operator.abs"),
    "sleeps": (SLEEPS, 5, "CodeTimeout", "timeoutSeconds (5s)"),
}


def sample(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((SAMPLE / name).read_text())
    return body


def training_jobs(kube: Kube, namespace: str, model: str) -> list[dict[str, Any]]:
    return [
        t for t in kube.list(TRAINING_JOBS, namespace) if t["spec"]["modelRef"]["name"] == model
    ]


def test_the_sample_module_from_a_configmap_trains_a_version_end_to_end(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    configmap = sample("configmap-train.yaml")
    kube.create(CONFIG_MAPS, namespace, configmap)
    kube.create(MODELS, namespace, sample("model-cancer.yaml"))

    status = wait_for_status(
        kube, MODELS, namespace, "cancer", lambda s: s.get("latestVersion"), 600,
        describe=operator.tail,
    )  # fmt: skip
    (tj,) = training_jobs(kube, namespace, "cancer")
    tj_status = tj["status"]
    assert tj_status["phase"] == "Succeeded" and tj_status["attempts"] == 1
    # the digest of exactly the bytes the ConfigMap holds
    assert tj_status["codeDigest"] == digest_bytes(configmap["data"]["train.py"].encode())
    assert {g["metric"]: g["passed"] for g in tj_status["gates"]} == {
        "accuracy": True,
        "roc_auc": True,
    }
    assert status["latestVersion"]["version"] == tj_status["version"] == 1
    assert status["latestVersion"]["digest"] == tj_status["artifact"]["digest"]
    assert condition(status, "Ready")["status"] == "True"

    # one pod, its three steps as containers, admitted under the restricted standard
    (pod,) = kube.list(PODS, namespace, {"modelship.io/trainingjob": tj["metadata"]["name"]})
    steps = [c["name"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]]
    assert len(steps) == 3, steps
    for container in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["runAsNonRoot"] is True


def test_bad_modules_fail_once_with_the_named_reason_and_are_not_retried(
    operator: OperatorProcess, kube: Kube, namespace: str
) -> None:
    kube.create(
        CONFIG_MAPS,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "bad-train"},
            "data": {f"{key}.py": module for key, (module, *_) in BAD.items()},
        },
    )
    base = sample("model-cancer.yaml")
    for key, (_, timeout, _, _) in BAD.items():
        body = copy.deepcopy(base)
        body["metadata"]["name"] = f"bad-{key}"
        body["spec"]["training"] = {
            "maxAttempts": 3,  # a cluster fault would be retried; bad code must not be
            "code": {
                "configMap": {"name": "bad-train", "key": f"{key}.py"},
                "timeoutSeconds": timeout,
            },
        }
        kube.create(MODELS, namespace, body)

    for key, (_, _, reason, named) in BAD.items():
        model = f"bad-{key}"
        status = wait_for_status(
            kube, MODELS, namespace, model, lambda s: s.get("phase") == "Failed", 600,
            describe=operator.tail,
        )  # fmt: skip
        (tj,) = training_jobs(kube, namespace, model)
        failure = tj["status"]["failure"]
        assert tj["status"]["phase"] == "Failed", (key, tj["status"])
        assert tj["status"]["attempts"] == 1, (key, tj["status"])
        assert failure["reason"] == reason, (key, failure)
        assert named in failure["message"], (key, failure)
        assert condition(status, "Ready")["reason"] == reason
        assert "latestVersion" not in status and not status.get("versions")

    # nothing is retried later either (the operator backs off 2 s before a retry)
    time.sleep(6)  # an absence can only be observed over time
    for key in BAD:
        (tj,) = training_jobs(kube, namespace, f"bad-{key}")
        assert tj["status"]["attempts"] == 1 and tj["status"]["phase"] == "Failed"
        jobs = kube.list(JOBS, namespace, {"modelship.io/trainingjob": tj["metadata"]["name"]})
        assert len(jobs) == 1, key
