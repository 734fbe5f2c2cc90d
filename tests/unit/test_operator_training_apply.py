"""Observe → decide → apply of TrainingJobs and Models against an in-memory client.

`MiniKube` is a minimal stand-in for `Kube`, local to this module until the shared fake in
tests/support lands: objects in a dict, merge-patched status, and a log of every write in order.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

from modelship.api.v1alpha1 import ModelSpec
from modelship.contracts.gates import Champion
from modelship.contracts.training import TrainerSummary
from modelship.operator.kube import events
from modelship.operator.kube.resources import MODELS, TRAINING_JOBS, Resource
from modelship.operator.model.builders import build_training_job
from modelship.operator.model.controller import reconcile_model
from modelship.operator.settings import OperatorSettings
from modelship.operator.trainingjob.controller import production_champion, reconcile_training_job

Obj = dict[str, Any]
LOG = logging.getLogger("test")
SETTINGS = OperatorSettings(resync_seconds=4, retry_backoff_seconds=10)
SPEC = {
    "task": "classification",
    "dataset": {"uri": "builtin:iris"},
    "algorithm": {"name": "random_forest"},
    "evaluation": {"gates": [{"metric": "accuracy", "min": 0.9}]},
}


def merge(target: Obj, patch: Obj) -> Obj:
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


class MiniKube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.writes: list[tuple[str, str, str]] = []

    def get(self, res: Resource, namespace: str, name: str) -> Obj | None:
        found = self.objects.get((res.plural, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def list(
        self, res: Resource, namespace: str, selector: dict[str, str] | None = None
    ) -> list[Obj]:
        return [
            copy.deepcopy(o)
            for (plural, ns, _), o in self.objects.items()
            if plural == res.plural
            and ns == namespace
            and all(
                o["metadata"].get("labels", {}).get(k) == v for k, v in (selector or {}).items()
            )
        ]

    def ensure(self, res: Resource, namespace: str, body: Obj) -> tuple[Obj, bool]:
        existing = self.get(res, namespace, body["metadata"]["name"])
        if existing is not None:
            return existing, False
        created = copy.deepcopy(body)
        created["metadata"].setdefault("uid", f"uid-{body['metadata']['name']}")
        created["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
        self.objects[(res.plural, namespace, body["metadata"]["name"])] = created
        self.writes.append(("create", res.plural, body["metadata"]["name"]))
        return copy.deepcopy(created), True

    def patch(
        self, res: Resource, namespace: str, name: str, patch: Obj, status: bool = False
    ) -> Obj:
        key = (res.plural, namespace, name)
        self.objects[key] = merge(self.objects[key], patch)
        self.writes.append(("patch-status" if status else "patch", res.plural, name))
        return copy.deepcopy(self.objects[key])

    def delete(self, res: Resource, namespace: str, name: str) -> bool:
        self.writes.append(("delete", res.plural, name))
        return self.objects.pop((res.plural, namespace, name), None) is not None


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(
        events, "normal", lambda body, reason, message: seen.append((reason, message))
    )
    monkeypatch.setattr(
        events, "warning", lambda body, reason, message: seen.append((reason, message))
    )
    return seen


def add_training_job(kube: MiniKube) -> Obj:
    model = {"metadata": {"name": "iris", "namespace": "ml", "uid": "m-1", "generation": 1}}
    body = build_training_job(model, ModelSpec.model_validate(SPEC), "spec-change", "first", "1")
    body["metadata"].update(uid="tj-1", generation=1)
    kube.objects[("trainingjobs", "ml", "iris-g1")] = body
    return body


def test_the_attempt_is_stored_before_its_job_is_created(posted: list[tuple[str, str]]) -> None:
    kube = MiniKube()
    body = add_training_job(kube)
    delay = reconcile_training_job(kube, SETTINGS, body, LOG)  # type: ignore[arg-type]
    assert kube.writes == [
        ("patch-status", "trainingjobs", "iris-g1"),  # attempts: 1
        ("create", "jobs", "iris-g1-a1"),
        ("patch-status", "trainingjobs", "iris-g1"),  # Running
    ]
    assert delay == SETTINGS.resync_seconds
    status = kube.objects[("trainingjobs", "ml", "iris-g1")]["status"]
    assert (status["attempts"], status["phase"], status["jobName"]) == (1, "Running", "iris-g1-a1")
    assert posted == [("TrainingStarted", "attempt 1: Job iris-g1-a1")]
    # a running Job: nothing to write, look again after resync_seconds
    kube.writes.clear()
    current = kube.get(TRAINING_JOBS, "ml", "iris-g1")
    assert current is not None
    assert reconcile_training_job(kube, SETTINGS, current, LOG) == 4  # type: ignore[arg-type]
    assert kube.writes == []


def test_the_summary_in_the_termination_message_finishes_the_run(
    posted: list[tuple[str, str]],
) -> None:
    kube = MiniKube()
    reconcile_training_job(kube, SETTINGS, add_training_job(kube), LOG)  # type: ignore[arg-type]
    job = kube.objects[("jobs", "ml", "iris-g1-a1")]
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    line = TrainerSummary(
        version=1, digest="sha256:a", metrics={"accuracy": 0.97}
    ).termination_line()
    kube.objects[("pods", "ml", "p")] = {
        "metadata": {"name": "p", "labels": {"job-name": "iris-g1-a1"}},
        "status": {
            "containerStatuses": [
                {"name": "trainer", "state": {"terminated": {"exitCode": 0, "message": line}}}
            ]
        },
    }
    current = kube.get(TRAINING_JOBS, "ml", "iris-g1")
    assert current is not None
    assert reconcile_training_job(kube, SETTINGS, current, LOG) is None  # type: ignore[arg-type]
    status = kube.objects[("trainingjobs", "ml", "iris-g1")]["status"]
    assert (status["phase"], status["version"], status["score"]) == (
        "Succeeded",
        1,
        "accuracy=0.97",
    )
    assert posted[-1] == ("TrainingSucceeded", "version 1 (accuracy=0.97)")


def test_a_model_is_reconciled_to_a_steady_state_without_writes(
    posted: list[tuple[str, str]],
) -> None:
    kube = MiniKube()
    kube.objects[("models", "ml", "iris")] = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "iris", "namespace": "ml", "uid": "m-1", "generation": 1},
        "spec": SPEC,
    }
    for _ in range(2):
        body = kube.get(MODELS, "ml", "iris")
        assert body is not None
        reconcile_model(kube, SETTINGS, body, LOG)  # type: ignore[arg-type]
    assert [w for w in kube.writes if w[0] == "create"] == [
        ("create", "persistentvolumeclaims", "modelship-catalog"),
        ("create", "trainingjobs", "iris-g1"),
    ]
    assert posted == [("TrainingRequested", "iris-g1 (spec-change): first version of the model")]
    status = kube.objects[("models", "ml", "iris")]["status"]
    assert (status["phase"], status["activeTrainingJob"]) == ("Training", "iris-g1")
    kube.writes.clear()
    body = kube.get(MODELS, "ml", "iris")
    assert body is not None
    reconcile_model(kube, SETTINGS, body, LOG)  # type: ignore[arg-type]
    assert kube.writes == []


def test_the_champion_is_the_newest_promotion_with_its_metrics_from_model_status() -> None:
    kube = MiniKube()

    def deployment(name: str, model: str, version: int, promoted: str | None) -> None:
        production = {"version": version, "digest": f"sha256:{version}"}
        if promoted:
            production["promotedAt"] = promoted
        kube.objects[("deployments", "ml", name)] = {
            "metadata": {"name": name},
            "spec": {"modelRef": {"name": model}},
            "status": {"production": production},
        }

    assert production_champion(kube, "ml", "iris") is None  # type: ignore[arg-type]
    deployment("old", "iris", 1, "2026-01-01T00:00:00Z")
    deployment("new", "iris", 2, "2026-01-02T00:00:00Z")
    deployment("unpromoted", "iris", 3, None)
    deployment("other", "wine", 9, "2026-01-03T00:00:00Z")
    versions = [
        {"version": v, "digest": f"sha256:{v}", "metrics": {"accuracy": v / 10}} for v in (3, 2, 1)
    ]
    kube.objects[("models", "ml", "iris")] = {
        "metadata": {"name": "iris"},
        "spec": SPEC,
        "status": {"versions": versions},
    }
    champion = production_champion(kube, "ml", "iris")  # type: ignore[arg-type]
    assert champion == Champion(2, {"accuracy": 0.2})
