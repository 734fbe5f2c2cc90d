"""What a Deployment measures reaches its Model only when it moved, and only a Model that reads it.

Every drift reading of a serving Deployment (each `drift_interval_seconds`) is a status write and
so an event; each used to reconcile the Model (three reads) whatever its retraining policy: most
of the operator's idle requests (issue 30). And a Model retraining on live performance alone
never looked at its Deployments, so it could not retrain on measured decay.
"""

from __future__ import annotations

import copy
from typing import Any

import kopf
import pytest
from prometheus_client import CollectorRegistry

from modelship.operator import handlers
from modelship.operator.kube.changes import Changes
from modelship.operator.kube.locks import KeyedLocks
from modelship.operator.metrics import OperatorMetrics
from support.factories import iris_deployment, iris_model

DRIFT = {"version": 1, "overall": 0.4, "checkedAt": "2026-12-07T12:00:00Z"}


def measured(drift: dict[str, Any] | None = None) -> dict[str, Any]:
    body = iris_deployment(metadata={"namespace": "ml"})
    body["status"] = {"drift": drift or DRIFT}
    return body


@pytest.fixture
def memo() -> kopf.Memo:
    return kopf.Memo(
        locks=KeyedLocks(),
        measured_changes=Changes(),
        models_reading_deployments={},
        metrics=OperatorMetrics(CollectorRegistry(), lambda: True),
    )


def reconciled(monkeypatch: Any) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(handlers, "_model", lambda _m, _ns, name, _l: seen.append(name))
    return seen


def record(memo: kopf.Memo, body: dict[str, Any], event: str = "MODIFIED") -> None:
    handlers.drift_recorded(body=body, meta=body["metadata"], memo=memo, logger=None, type=event)


def test_a_recording_reaches_the_model_once_not_on_every_event(
    memo: kopf.Memo, monkeypatch: Any
) -> None:
    seen = reconciled(monkeypatch)
    body = measured()
    record(memo, body)
    patched = copy.deepcopy(body)
    patched["metadata"]["annotations"] = {"modelship.io/last-handled-configuration": "{}"}
    patched["status"]["test"] = {"version": 1}  # another status write
    record(memo, patched)
    assert seen == ["iris"]

    read_again = measured({**DRIFT, "checkedAt": "2026-12-07T12:00:30Z"})
    record(memo, read_again)  # a new reading, same PSI: a held-back retraining is judged again
    record(memo, read_again, "DELETED")
    assert seen == ["iris", "iris", "iris"]
    assert len(memo.measured_changes) == 0


def test_a_model_that_reads_no_measurement_is_not_reconciled_for_one(
    memo: kopf.Memo, monkeypatch: Any
) -> None:
    seen = reconciled(monkeypatch)
    memo.models_reading_deployments[("ml", "iris")] = False
    record(memo, measured())
    assert seen == []
    memo.models_reading_deployments[("ml", "iris")] = True
    record(memo, measured({**DRIFT, "overall": 0.9}))
    assert seen == ["iris"]


def test_whether_a_model_reads_its_deployments_follows_its_retraining() -> None:
    assert not handlers.reads_deployments(iris_model())
    assert handlers.reads_deployments(iris_model(retraining={"drift": {"threshold": 0.3}}))
    assert handlers.reads_deployments(iris_model(retraining={"performance": {"below": 0.8}}))
