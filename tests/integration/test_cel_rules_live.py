"""The CRDs' CEL rules on a real API server: each cross-field mistake is refused at apply time.

Each case breaks one rule of an otherwise valid sample and must get 422 from the API server with
the rule's message and the path of the object it relates to (before any operator sees it); the
unbroken sample is accepted, so the refusal is the rule's and nothing else's.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from modelship.operator.kube.client import Kube, KubeError
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS
from support.kubectl import MANIFESTS, Kubectl

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
Breaks = Callable[[Obj], None]


@pytest.fixture(scope="module")
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"cel-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


def sample(name: str) -> Obj:
    body: Obj = yaml.safe_load((MANIFESTS / "samples" / name).read_text())
    body["metadata"]["name"] = f"s-{uuid.uuid4().hex[:6]}"
    return body


def production(body: Obj) -> Obj:
    part: Obj = body["spec"]["production"]
    return part


def rollout(body: Obj, **fields: Any) -> None:
    production(body)["rollout"] = fields


STEPS = [{"setWeight": 20}, {"analysis": {"interval": "30s"}}]
DEPLOYMENT_CASES: dict[str, tuple[Breaks, str, str]] = {
    "autoscaling bounds": (
        lambda b: production(b).update(autoscaling={"minReplicas": 5, "maxReplicas": 2}),
        "spec.production.autoscaling",
        "autoscaling.minReplicas exceeds maxReplicas",
    ),
    "autoscaling bound against the default": (
        lambda b: production(b).update(autoscaling={"minReplicas": 11}),
        "spec.production.autoscaling",
        "autoscaling.minReplicas exceeds maxReplicas",
    ),
    "a step of two kinds": (
        lambda b: rollout(b, strategy="canary", steps=[{"setWeight": 10, "pause": {}}]),
        "spec.production.rollout.steps[0]",
        "a rollout step is exactly one of setWeight, analysis or pause",
    ),
    "gatewayAPI without gateway": (
        lambda b: rollout(b, strategy="canary", steps=STEPS, traffic="gatewayAPI"),
        "spec.production.rollout",
        "traffic: gatewayAPI and gateway (its parentRefs) go together",
    ),
    "gateway without gatewayAPI": (
        lambda b: rollout(
            b, strategy="canary", steps=STEPS, gateway={"parentRefs": [{"name": "public"}]}
        ),
        "spec.production.rollout",
        "traffic: gatewayAPI and gateway (its parentRefs) go together",
    ),
    "steps on surge": (
        lambda b: rollout(b, steps=STEPS),
        "spec.production.rollout",
        "steps apply only to strategy: canary",
    ),
    "traffic on surge": (
        lambda b: rollout(b, strategy="surge", traffic="replicas"),
        "spec.production.rollout",
        "traffic applies only to strategy: canary",
    ),
    "canary without steps": (
        lambda b: rollout(b, strategy="canary"),
        "spec.production.rollout",
        "strategy: canary needs steps",
    ),
    "acceptance bound without metric": (
        lambda b: b["spec"]["test"]["acceptance"].update(min=0.9),
        "spec.test.acceptance",
        "test.acceptance.min/max need test.acceptance.metric",
    ),
    "shadow with traffic replicas": (
        lambda b: (
            b["spec"]["test"].update(shadow={"percent": 10}),
            rollout(b, strategy="canary", steps=STEPS, traffic="replicas"),
        ),
        "spec",
        "test.shadow mirrors requests through the router",
    ),
}


def gates(body: Obj, *gate: Obj) -> None:
    body["spec"]["evaluation"]["gates"] = list(gate)


CODE = {"configMap": {"name": "train-py", "key": "train.py"}}
MODEL_CASES: dict[str, tuple[Breaks, str, str]] = {
    "gate without a bound": (
        lambda b: gates(b, {"metric": "accuracy"}),
        "spec.evaluation.gates[0]",
        "a gate needs min or max (or minImprovement)",
    ),
    "gate min above max": (
        lambda b: gates(b, {"metric": "accuracy", "min": 0.9, "max": 0.5}),
        "spec.evaluation.gates[0]",
        "gate min is above max",
    ),
    "CSV without target": (
        lambda b: b["spec"]["dataset"].update(uri="https://data.example/iris.csv"),
        "spec.dataset",
        "dataset.target is required for CSV datasets",
    ),
    "both algorithm and training.code": (
        lambda b: b["spec"]["training"].update(code=CODE),
        "spec",
        "set exactly one of algorithm (a built-in estimator) and training.code",
    ),
    "neither algorithm nor training.code": (
        lambda b: b["spec"].pop("algorithm"),
        "spec",
        "set exactly one of algorithm (a built-in estimator) and training.code",
    ),
    "code time-out not below the pod's": (
        lambda b: (
            b["spec"].pop("algorithm"),
            b["spec"]["training"].update(code={**CODE, "timeoutSeconds": 900}),
        ),
        "spec",
        "training.code.timeoutSeconds must be less than training.timeoutSeconds",
    ),
    "gate metric of the other task": (
        lambda b: gates(b, {"metric": "rmse", "max": 1.0}),
        "spec",
        "a gate's metric must apply to the task",
    ),
}


def refused(kube: Kube, resource: Any, namespace: str, body: Obj) -> str:
    with pytest.raises(KubeError) as caught:
        kube.create(resource, namespace, body)
    assert caught.value.status == 422, caught.value
    return str(caught.value)


def test_the_unbroken_samples_are_accepted(kube: Kube, namespace: str) -> None:
    kube.create(MODELS, namespace, sample("model-iris.yaml"))
    kube.create(MODEL_DEPLOYMENTS, namespace, sample("deployment-iris.yaml"))


@pytest.mark.parametrize("case", DEPLOYMENT_CASES, ids=str)
def test_a_deployment_breaking_a_rule_is_refused_naming_it(
    kube: Kube, namespace: str, case: str
) -> None:
    breaks, path, message = DEPLOYMENT_CASES[case]
    body = sample("deployment-iris.yaml")
    breaks(body)
    error = refused(kube, MODEL_DEPLOYMENTS, namespace, body)
    assert message in error and path in error, error


@pytest.mark.parametrize("case", MODEL_CASES, ids=str)
def test_a_model_breaking_a_rule_is_refused_naming_it(
    kube: Kube, namespace: str, case: str
) -> None:
    breaks, path, message = MODEL_CASES[case]
    body = copy.deepcopy(sample("model-iris.yaml"))
    breaks(body)
    error = refused(kube, MODELS, namespace, body)
    assert message in error and path in error, error
