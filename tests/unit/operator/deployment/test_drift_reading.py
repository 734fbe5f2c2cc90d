"""Production drift as the operator reads it, and the autoApprove rule, without a cluster."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from modelship.api.v1alpha1 import (
    Approval,
    AutoApproval,
    DeploymentStatus,
    ProductionStatus,
    VersionSummary,
)
from modelship.contracts.drift import DriftReference, DriftReport, FeaturePsi
from modelship.operator.deployment.approval import auto_approval_rule, effective_approval
from modelship.operator.deployment.drift import DriftReader, drift_due, record_drift
from modelship.operator.deployment.drift_reports import (
    DriftReadError,
    PodReport,
    combine,
    drift_status,
    parse_report,
)
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, PODS
from modelship.operator.settings import OperatorSettings
from support.fake_kube import FakeKube

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
STAMP = "2025-03-01T12:00:00Z"


def fmt(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def report(rows: int, **psi: float | None) -> dict[str, Any]:
    """What an inference pod serves, built from the shared contract."""
    return DriftReport(
        model_name="iris",
        model_version="1",
        reference=DriftReference(version=1, digest="sha256:a"),
        epsilon=1e-4,
        window_rows=rows,
        observed_rows=rows,
        features=[FeaturePsi(name=n, psi=p) for n, p in psi.items()],
    ).model_dump(mode="json")


# -- drift combination -------------------------------------------------------------------------


def test_pod_reports_combine_weighted_by_rows() -> None:
    reports = [
        parse_report(report(300, a=0.1, b=0.3), "p1"),
        parse_report(report(100, a=0.5, b=0.7), "p2"),
        parse_report(report(0, a=None, b=None), "p3"),
    ]
    combined = combine(reports)
    assert combined.rows == 400
    assert dict(combined.features) == {"a": 0.2, "b": 0.4}
    assert combined.overall == pytest.approx(0.3) and combined.maximum == 0.4
    assert combined.worst == "b=0.4, a=0.2"


def test_missing_rates_combine_weighted_by_rows_into_status() -> None:
    def typed(rows: int, rate: float) -> dict[str, Any]:
        document = report(rows, age=0.2, city=0.4)
        document["features"][0]["missing_rate"] = rate
        return document

    reports = [parse_report(typed(300, 0.1), "p1"), parse_report(typed(100, 0.5), "p2")]
    assert combine(reports).missing == {"age": pytest.approx(0.2)}
    status = drift_status(1, "sha256:a", reports, [], "pod", STAMP)
    assert [(f.name, f.missing_rate) for f in status.features] == [("age", 0.2), ("city", None)]


def test_malformed_reports_are_refused() -> None:
    no_features = {**report(5, a=0.1), "features": []}
    bad: object
    for bad in ([], {"window_rows": 3}, {**report(5, a=0.1), "window_rows": "x"}, no_features):
        with pytest.raises(DriftReadError, match="pod-1: malformed drift report"):
            parse_report(bad, "pod-1")


def test_drift_status_names_what_could_not_be_read_and_other_digests() -> None:
    other = PodReport("p2", 50, 50, {"a": 9.0}, digest="sha256:b")
    good = PodReport("p1", 100, 100, {"a": 0.1}, digest="sha256:a")
    status = drift_status(1, "sha256:a", [good, other], ["p3: unreachable"], "pod", STAMP)
    assert status.pods == 1 and status.rows == 100 and status.overall == 0.1
    assert status.error is not None
    assert "p3: unreachable" in status.error and "p2: serves another digest" in status.error
    empty = drift_status(1, "sha256:a", [], ["no ready production pod"], "pod", STAMP)
    assert empty.rows == 0 and "overall" not in empty.to_wire()


def status(production: dict[str, Any], drift: dict[str, Any] | None = None) -> DeploymentStatus:
    return DeploymentStatus.model_validate({"production": production, "drift": drift})


def test_drift_is_due_by_interval_or_when_production_changed() -> None:
    promoted = {"version": 2, "promotedAt": fmt(NOW)}
    fresh = {"version": 2, "checkedAt": fmt(NOW)}
    assert not drift_due(status(promoted, fresh), 30, NOW + timedelta(seconds=5))
    assert drift_due(status(promoted, fresh), 30, NOW + timedelta(seconds=30))
    assert drift_due(status(promoted, {**fresh, "version": 1}), 30, NOW)
    assert not drift_due(status({"version": 2}), 30, NOW)


def ready_pod(name: str, ip: str) -> dict[str, Any]:
    labels = {
        "modelship.io/deployment": "iris",
        "modelship.io/stage": "production",
        "modelship.io/version": "1",
    }
    return {
        "metadata": {"name": name, "namespace": "ml", "labels": labels},
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]},
    }


def test_unreachable_pods_are_read_through_the_api_server_proxy() -> None:
    """Outside the cluster (`auto`), a refused connection switches to the pod proxy."""
    kube = FakeKube()
    kube.put(PODS, ready_pod("iris-a", "10.0.0.1"))
    kube.proxied[("ml", "iris-a", 8080, "/v2/models/iris/drift")] = report(50, a=0.2)
    mdep = {
        "metadata": {"name": "iris", "namespace": "ml"},
        "spec": {"modelRef": {"name": "iris"}},
        "status": {"production": {"version": 1, "digest": "sha256:a", "promotedAt": STAMP}},
    }
    kube.put(MODEL_DEPLOYMENTS, mdep)
    reader = DriftReader(kube, "auto", in_cluster=False, timeout=1)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    reader._http = httpx.Client(transport=httpx.MockTransport(refuse))
    record_drift(kube, reader, OperatorSettings(), mdep, logging.getLogger(__name__))
    drift = kube.objects[("modelship.io/deployments", "ml", "iris")]["status"]["drift"]
    assert drift["access"] == "proxy" and drift["pods"] == 1 and drift["rows"] == 50
    assert [c.verb for c in kube.written()] == ["proxy_get", "patch-status"]


def answering(reports: dict[str, dict[str, Any]]) -> httpx.Client:
    """Pods at the given addresses answering their drift report; any other refuses."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host in reports:
            return httpx.Response(200, json=reports[request.url.host])
        raise httpx.ConnectError("connection refused", request=request)

    return httpx.Client(transport=httpx.MockTransport(answer))


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_pod_listing_is_kept_until_the_stage_moves_a_read_fails_or_it_is_old() -> None:
    kube, ticks = FakeKube(), Ticks()
    kube.put(PODS, ready_pod("iris-a", "10.0.0.1"))
    reader = DriftReader(kube, "pod", in_cluster=True, timeout=1, clock=ticks)
    reader._http = answering({"10.0.0.1": report(50, a=0.2), "10.0.0.2": report(30, a=0.4)})

    def lists() -> int:
        return sum(1 for c in kube.calls if c.verb == "list")

    assert reader.read("ml", "iris", "iris", 1, "sha256:a").pods == 1
    assert reader.read("ml", "iris", "iris", 1, "sha256:a").pods == 1
    assert lists() == 1  # the second read used the kept listing: no request at all
    # A new pod: its stage's apps Deployment moved, and its event makes the reader list again.
    kube.put(PODS, ready_pod("iris-b", "10.0.0.2"))
    reader.forget("ml", "iris")
    assert reader.read("ml", "iris", "iris", 1, "sha256:a").pods == 2 and lists() == 2
    # A pod replaced without an event we saw: the kept address fails, so list and read again.
    del kube.objects[("pods", "ml", "iris-b")]
    kube.put(PODS, ready_pod("iris-c", "10.0.0.3"))
    reader._http = answering({"10.0.0.1": report(50, a=0.2), "10.0.0.3": report(30, a=0.4)})
    drift = reader.read("ml", "iris", "iris", 1, "sha256:a")
    assert drift.error is None and drift.pods == 2 and lists() == 3
    # Old enough: listed again even though nothing said so.
    ticks.now += 301
    reader.read("ml", "iris", "iris", 1, "sha256:a")
    assert lists() == 4
    # Another version in production is another listing.
    reader.read("ml", "iris", "iris", 2, "sha256:b")
    assert lists() == 5 and reader.listings() == 0  # version 2 has no pod: nothing kept


def test_a_drift_write_over_a_newer_deployment_is_made_again_on_a_fresh_read() -> None:
    kube = FakeKube()
    kube.put(PODS, ready_pod("iris-a", "10.0.0.1"))
    production = {"version": 1, "digest": "sha256:a", "promotedAt": STAMP}
    kept = {
        "metadata": {"name": "iris", "namespace": "ml", "resourceVersion": "7"},
        "spec": {"modelRef": {"name": "iris"}},
        "status": {"production": production},
    }
    current = copy.deepcopy(kept)
    current["metadata"]["resourceVersion"] = "8"  # written since the kept body's event
    current["status"]["phase"] = "Serving"
    kube.put(MODEL_DEPLOYMENTS, current)
    reader = DriftReader(kube, "pod", in_cluster=True, timeout=1)
    reader._http = answering({"10.0.0.1": report(50, a=0.2)})
    recorded = record_drift(kube, reader, OperatorSettings(), kept, logging.getLogger(__name__))
    assert recorded is not None and recorded.drift.rows == 50
    stored = kube.objects[("modelship.io/deployments", "ml", "iris")]
    assert stored["status"]["phase"] == "Serving" and stored["status"]["drift"]["rows"] == 50
    assert recorded.body == stored and stored["metadata"]["resourceVersion"] == "9"
    verbs = [c.verb for c in kube.calls if c.resource == "modelship.io/deployments"]
    assert verbs == ["patch-status", "get", "patch-status"]  # refused over 8, then made over it

    # Kept and current agree: one request, the write.
    kube.calls.clear()
    later = copy.deepcopy(stored)
    later["status"]["drift"]["checkedAt"] = "2025-03-01T11:00:00Z"
    kube.put(MODEL_DEPLOYMENTS, copy.deepcopy(later))
    assert record_drift(kube, reader, OperatorSettings(), later, logging.getLogger(__name__))
    assert [c.verb for c in kube.calls] == ["patch-status"]  # the listing was kept as well

    # Promoted meanwhile: what was read belongs to the old version and is not written.
    kube.calls.clear()
    newer = copy.deepcopy(later)
    newer["metadata"]["resourceVersion"] = "20"
    newer["status"]["production"] = {**production, "version": 2, "digest": "sha256:b"}
    kube.put(MODEL_DEPLOYMENTS, newer)
    log = logging.getLogger(__name__)
    assert record_drift(kube, reader, OperatorSettings(), later, log) is None
    assert [c.verb for c in kube.calls] == ["patch-status", "get"]
    assert kube.objects[("modelship.io/deployments", "ml", "iris")] == newer


def test_a_pod_that_answers_badly_is_not_retried_through_the_proxy() -> None:
    kube = FakeKube()
    kube.put(PODS, ready_pod("iris-a", "10.0.0.1"))
    reader = DriftReader(kube, "auto", in_cluster=False, timeout=1)
    reader._http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    drift = reader.read("ml", "iris", "iris", 1, "sha256:a")
    assert drift.error == "http://10.0.0.1:8080/v2/models/iris/drift: HTTP 500"
    assert not kube.written("proxy_get")


# -- auto-approval -----------------------------------------------------------------------------

VERSIONS = [
    VersionSummary(
        version=2, digest="d2", passed_gates=True, metrics={"accuracy": 0.95, "rmse": 1.0}
    ),
    VersionSummary(
        version=1, digest="d1", passed_gates=True, metrics={"accuracy": 0.93, "rmse": 0.9}
    ),
]
PRODUCTION = ProductionStatus(version=1, digest="sha256:a", promoted_at=fmt(NOW))


def test_auto_approval_needs_a_metric_at_least_production_s() -> None:
    rule = auto_approval_rule("accuracy", 2, PRODUCTION, VERSIONS)
    assert rule is not None and "0.95 >= 0.93" in rule
    assert auto_approval_rule("rmse", 2, PRODUCTION, VERSIONS) is None  # lower is better
    unpromoted = ProductionStatus(version=1)
    assert auto_approval_rule("accuracy", 2, unpromoted, VERSIONS) is None  # not promoted
    assert auto_approval_rule("accuracy", 2, None, VERSIONS) is None  # the first is a person's
    failed = [VERSIONS[0].model_copy(update={"passed_gates": False}), VERSIONS[1]]
    assert auto_approval_rule("accuracy", 2, PRODUCTION, failed) is None


def test_the_newer_of_the_user_s_and_the_automatic_approval_counts() -> None:
    auto = AutoApproval(version=3, digest="sha256:" + "c" * 64, rule="r", at=STAMP)
    chosen = effective_approval(None, auto)
    assert chosen is not None and chosen.version == 3 and chosen.approved_by == "autoApprove"
    mine = Approval(version=4)
    assert effective_approval(mine, auto) is mine
    assert effective_approval(mine, None) is mine
