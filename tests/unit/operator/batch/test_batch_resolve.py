"""Resolving stage / number / digest, and the approval check against recorded promotions."""

from __future__ import annotations

from typing import Any

from modelship.api.v1alpha1 import BatchPredictionSpec, DeploymentStatus
from modelship.operator.batch.observation import ApprovalRecord, CatalogVersion, VersionFacts
from modelship.operator.batch.observe import approval_records
from modelship.operator.batch.resolve import Refusal, resolve

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
FACTS = VersionFacts(
    model_exists=True,
    versions=[CatalogVersion(1, D1, "a1"), CatalogVersion(2, D2, "a2"), CatalogVersion(3, D3)],
    approvals=[ApprovalRecord(2, D2, "alice", True), ApprovalRecord(1, D1, None, False)],
)


def spec(version: dict[str, Any], **fields: Any) -> BatchPredictionSpec:
    return BatchPredictionSpec.model_validate(
        {"model": "iris", "version": version, "input": {"uri": "builtin:iris"}, **fields}
    )


def test_stage_production_is_the_serving_version_with_its_approver() -> None:
    resolved = resolve(spec({"stage": "production"}), FACTS)
    assert not isinstance(resolved, Refusal)
    assert (resolved.version, resolved.digest, resolved.artifact) == (2, D2, "a2")
    assert resolved.approved and resolved.approved_by == "alice"


def test_a_number_and_a_digest_name_the_same_version() -> None:
    by_number = resolve(spec({"number": 1}), FACTS)
    by_digest = resolve(spec({"digest": D1}), FACTS)
    assert by_number == by_digest
    assert not isinstance(by_number, Refusal) and by_number.approved


def test_a_version_never_promoted_is_refused_unless_a_backtest() -> None:
    refused = resolve(spec({"number": 3}), FACTS)
    assert isinstance(refused, Refusal) and refused.reason == "VersionNotApproved"
    assert "version 3" in refused.message and "requireApproved: false" in refused.message
    backtest = resolve(spec({"number": 3}, requireApproved=False), FACTS)
    assert not isinstance(backtest, Refusal)
    assert backtest.version == 3 and backtest.approved is False and backtest.approved_by is None


def test_unknown_model_version_or_digest_are_named() -> None:
    missing = resolve(spec({"number": 1}), VersionFacts(model_exists=False))
    assert isinstance(missing, Refusal) and missing.reason == "ModelNotFound"
    absent = resolve(spec({"number": 9}), FACTS)
    assert isinstance(absent, Refusal) and absent.reason == "VersionNotFound"
    assert "no version 9 (versions: 1, 2, 3)" in absent.message
    other = resolve(spec({"digest": "sha256:" + "9" * 64}), FACTS)
    assert isinstance(other, Refusal) and other.reason == "VersionNotFound"
    unserved = resolve(spec({"stage": "production"}), VersionFacts(True, FACTS.versions, []))
    assert isinstance(unserved, Refusal) and unserved.reason == "NoProductionVersion"


def test_approval_records_come_from_what_deployments_promoted() -> None:
    status = DeploymentStatus.model_validate(
        {
            "production": {"version": 3, "digest": D3, "approvedBy": "bob"},
            "previous": {"version": 2, "digest": D2},
            "history": [
                {"event": "Promoted", "version": 1, "digest": D1, "at": "2026-01-01T00:00:00Z"},
                {"event": "Tested", "version": 4, "digest": D1, "at": "2026-01-02T00:00:00Z"},
            ],
        }
    )
    records = approval_records(status)
    assert records == [
        ApprovalRecord(3, D3, "bob", True),
        ApprovalRecord(2, D2, None, False),
        ApprovalRecord(1, D1, None, False),
    ]
    # A spec.approval nobody acted on yet, or a tested version, is no approval.
    assert approval_records(DeploymentStatus.model_validate({})) == []
