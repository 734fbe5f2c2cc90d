"""`spec.suspend` on Model and Deployment: observed and reported, nothing started, resumed later."""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import Model
from modelship.operator.deployment.actions import ApplyChild, DeleteChild
from modelship.operator.deployment.decide import decide as decide_deployment
from modelship.operator.deployment.observation import Observation, Subject
from modelship.operator.kube.actions import CreateJob, PostEvent
from modelship.operator.model.decide import CreateTrainingJob, EnsureCatalogClaim
from modelship.operator.model.decide import decide as decide_model
from modelship.operator.model.observation import ModelMeta, ModelObservation
from modelship.operator.settings import OperatorSettings
from support.model_observations import NOW, SPEC, published

SETTINGS = OperatorSettings()


def model(generation: int, suspend: bool, status: Any = None, annotation: str | None = None):  # type: ignore[no-untyped-def]
    typed = Model.model_validate({"spec": {**SPEC, "suspend": suspend}, "status": status or {}})
    return typed, ModelMeta("iris", "ml", generation, annotation)


def conditions(status: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_a_suspended_new_model_starts_nothing_and_says_so() -> None:
    typed, meta = model(1, suspend=True)
    decision = decide_model(typed, meta, ModelObservation([], []), NOW, 10)
    assert not any(isinstance(a, CreateTrainingJob | EnsureCatalogClaim) for a in decision.actions)
    assert decision.status.observed_generation == 1  # observed, even though nothing started
    assert decision.status.pending_trigger == "spec-change"  # the first version waits
    assert conditions(decision.status)["Suspended"] == ("True", "Suspended")
    assert [a.reason for a in decision.actions if isinstance(a, PostEvent)] == ["Suspended"]
    # Deciding again on the status it wrote changes nothing and posts nothing.
    again = decide_model(typed.model_copy(update={"status": decision.status}), meta,
                         ModelObservation([], []), NOW, 10)  # fmt: skip
    assert again.actions == [] and again.status == decision.status


def test_resuming_trains_what_waited() -> None:
    typed, meta = model(1, suspend=True)
    suspended = decide_model(typed, meta, ModelObservation([], []), NOW, 10).status
    resumed, meta2 = model(2, suspend=False, status=suspended.to_wire())
    decision = decide_model(resumed, meta2, ModelObservation([], []), NOW, 10)
    creates = [a for a in decision.actions if isinstance(a, CreateTrainingJob)]
    assert [c.trigger for c in creates] == ["spec-change"]
    assert conditions(decision.status)["Suspended"] == ("False", "Resumed")
    assert "Resumed" in [a.reason for a in decision.actions if isinstance(a, PostEvent)]


def test_a_retrain_annotation_made_while_suspended_is_kept_for_the_resume() -> None:
    v1 = published("iris-1", 1, 0.95)
    base = decide_model(*model(1, suspend=False), ModelObservation([v1], []), NOW, 10).status
    typed, meta = model(2, suspend=True, status=base.to_wire(), annotation="again")
    held = decide_model(typed, meta, ModelObservation([v1], []), NOW, 10)
    assert not any(isinstance(a, CreateTrainingJob) for a in held.actions)
    assert held.status.pending_trigger == "manual"
    assert held.status.latest_version is not None  # what exists is still reported
    typed, meta = model(3, suspend=False, status=held.status.to_wire(), annotation="again")
    resumed = decide_model(typed, meta, ModelObservation([v1], []), NOW, 10)
    assert [a.trigger for a in resumed.actions if isinstance(a, CreateTrainingJob)] == ["manual"]


def deployment_subject(suspend: bool, status: Any = None, generation: int = 1) -> Subject:
    body = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "Deployment",
        "metadata": {"name": "iris", "namespace": "ml", "generation": generation, "uid": "u"},
        "spec": {"modelRef": {"name": "iris"}, "suspend": suspend},
        "status": status or {},
    }
    return Subject.parse(body)


def test_a_suspended_deployment_touches_no_child_and_asks_for_no_requeue() -> None:
    decision = decide_deployment(deployment_subject(True), Observation(), "t", SETTINGS)
    assert not any(isinstance(a, ApplyChild | CreateJob | DeleteChild) for a in decision.actions)
    assert decision.requeue_after is None  # only the resume (a new spec) can change anything
    assert decision.status.observed_generation == 1
    assert decision.status.phase == "Pending"
    assert conditions(decision.status)["Suspended"] == ("True", "Suspended")


def test_a_serving_deployment_keeps_its_status_while_suspended_and_proceeds_when_resumed() -> None:
    serving = {
        "phase": "Serving",
        "production": {"version": 1, "digest": "sha256:1", "promotedAt": "t0"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Serving"}],
    }
    held = decide_deployment(deployment_subject(True, serving), Observation(), "t", SETTINGS)
    assert held.status.phase == "Serving" and held.status.production == (
        deployment_subject(False, serving).status.production
    )
    resumed = decide_deployment(
        deployment_subject(False, held.status.to_wire(), 2), Observation(), "t", SETTINGS
    )
    assert conditions(resumed.status)["Suspended"] == ("False", "Resumed")
    assert resumed.requeue_after is not None  # it works again (here: waits for its Model)
