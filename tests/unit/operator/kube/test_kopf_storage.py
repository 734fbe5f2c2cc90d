"""A user's request annotation is a change Kopf sees, though it shares Kopf's storage domain.

Kopf marks the objects it handles `modelship.io/kopf-managed` and from then on leaves every
`modelship.io/` annotation out of what it compares; `modelship.io/retrain` set on a quiet Model
was never handled (the live Traefik test stalled on it once drift readings stopped reconciling
the Model on every reading).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import kopf
import pytest
from prometheus_client import CollectorRegistry

from modelship.contracts.approval import ABORT_ANNOTATION, PROMOTE_ANNOTATION
from modelship.operator import startup
from modelship.operator.kube.naming import RETRAIN_ANNOTATION
from modelship.operator.metrics import OperatorMetrics
from support.factories import iris_model
from support.fake_kube import FakeKube

Storages = tuple[kopf.ProgressStorage, kopf.DiffBaseStorage]


@pytest.fixture
def storage(monkeypatch: Any) -> Storages:
    """The progress and diff-base storages the operator's startup configures."""
    monkeypatch.setattr(startup, "load_api_client", lambda **_: None)
    monkeypatch.setattr(startup, "Kube", lambda _: FakeKube())
    settings = kopf.OperatorSettings()
    memo = kopf.Memo(metrics=OperatorMetrics(CollectorRegistry(), lambda: True))
    startup.configure(settings=settings, memo=memo, logger=logging.getLogger("t"))
    startup.close(memo=memo)
    return settings.persistence.progress_storage, settings.persistence.diffbase_storage


def essences(storage: Storages, body: kopf.Body) -> tuple[Any, Any]:
    """The last handled and the current essence, as Kopf's processing compares them."""
    progress, diffbase = storage
    old = diffbase.fetch(body=body)
    new = progress.clear(essence=diffbase.build(body=body))
    return (progress.clear(essence=old) if old is not None else None), new


def handled(storage: Storages, raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` after Kopf handled it: its essence stored, and the object marked as Kopf's."""
    body = kopf.Body(raw)
    patch = kopf.Patch()
    storage[1].store(body=body, patch=patch, essence=essences(storage, body)[1])
    stored = copy.deepcopy(raw)
    stored["metadata"].setdefault("annotations", {}).update(patch["metadata"]["annotations"])
    assert "modelship.io/kopf-managed" in stored["metadata"]["annotations"]
    return stored


def changed(storage: Storages, raw: dict[str, Any]) -> bool:
    """Whether Kopf's update handlers would run for `raw`: its essence differs from the stored."""
    old, new = essences(storage, kopf.Body(raw))
    return old != new


@pytest.mark.parametrize(
    ("annotation", "value"),
    [(RETRAIN_ANNOTATION, "v2"), (PROMOTE_ANNOTATION, "2/1"), (ABORT_ANNOTATION, "2")],
)
def test_a_request_annotation_on_a_handled_object_is_a_change(
    storage: Storages, annotation: str, value: str
) -> None:
    model = handled(storage, iris_model())
    assert not changed(storage, model)
    model["metadata"]["annotations"][annotation] = value
    assert changed(storage, model)
    again = handled(storage, model)
    assert not changed(storage, again)  # handled once, not on every event after
    again["metadata"]["annotations"][annotation] = value + "-next"
    assert changed(storage, again)


def test_kopfs_own_records_are_still_not_a_change(storage: Storages) -> None:
    model = handled(storage, iris_model())
    model["metadata"]["annotations"]["modelship.io/model_changed"] = '{"success": true}'
    model["status"] = {"phase": "Ready"}
    assert not changed(storage, model)
    model["metadata"]["annotations"]["team.example.com/owner"] = "ml"  # anyone else's: a change
    assert changed(storage, model)


def test_kopfs_plain_storage_misses_the_request(storage: Storages) -> None:
    """What this guards against, shown with Kopf's own storages on the same object."""
    plain = (
        kopf.AnnotationsProgressStorage(prefix="modelship.io"),
        kopf.AnnotationsDiffBaseStorage(prefix="modelship.io", key="last-handled-configuration"),
    )
    model = handled(plain, iris_model())
    model["metadata"]["annotations"][RETRAIN_ANNOTATION] = "v2"
    assert not changed(plain, model)
    assert changed(storage, model)
