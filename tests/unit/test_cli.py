"""The `modelship` command: the dispatcher, `approve` and the `status` screen, without a cluster."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from modelship.cli import build_parser
from modelship.cli.approve import approval_for, report
from modelship.cli.status import render_model
from modelship.contracts.approval import ApproverIdentity, fingerprint

DIGEST = "sha256:" + "ab" * 32
OLD = "sha256:" + "cd" * 32

MODEL: dict[str, Any] = {
    "metadata": {"name": "iris", "namespace": "ml"},
    "spec": {
        "task": "classification",
        "algorithm": {"name": "random_forest"},
        "dataset": {"uri": "builtin:iris"},
    },
    "status": {
        "phase": "Ready",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "VersionAvailable",
                "message": "version 2",
            }
        ],
        "latestVersion": {
            "version": 2,
            "digest": DIGEST,
            "metrics": {"accuracy": 0.97, "f1_macro": 0.9687, "roc_auc": 0.99, "recall": 0.5},
        },
        "versions": [
            {
                "version": 2,
                "digest": DIGEST,
                "passedGates": True,
                "metrics": {"accuracy": 0.97},
                "trainingJob": "iris-g2",
            },
            {
                "version": 1,
                "digest": OLD,
                "passedGates": False,
                "metrics": {"accuracy": 0.5},
                "trainingJob": "iris-g1",
            },
        ],
        "activeTrainingJob": "iris-drift-1",
        "pendingTrigger": "manual",
        "retraining": {
            "decision": "Deferred",
            "reason": "Cooldown",
            "message": "cooling down",
            "at": "2026-01-01T00:00:00Z",
            "nextEligibleAt": "2026-01-01T01:00:00Z",
        },
    },
}
TRAINING_JOBS: list[dict[str, Any]] = [
    {
        "metadata": {"name": "iris-g2", "creationTimestamp": "2026-01-01T00:00:02Z"},
        "spec": {"modelRef": {"name": "iris"}, "trigger": "spec-change", "reason": "changed"},
        "status": {"phase": "Succeeded", "version": 2, "attempts": 1},
    },
    {
        "metadata": {"name": "iris-g1", "creationTimestamp": "2026-01-01T00:00:01Z"},
        "spec": {"modelRef": {"name": "iris"}, "trigger": "spec-change", "reason": "created"},
        "status": {
            "phase": "Failed",
            "attempts": 3,
            "failure": {"reason": "BadInput", "message": "no such column"},
        },
    },
    {  # just created: no status yet
        "metadata": {"name": "iris-drift-1", "creationTimestamp": "2026-01-01T00:00:03Z"},
        "spec": {"modelRef": {"name": "iris"}, "trigger": "drift", "reason": "psi 0.4"},
    },
]
SERVING: dict[str, Any] = {
    "metadata": {"name": "iris"},
    "spec": {"modelRef": {"name": "iris"}},
    "status": {
        "phase": "Serving",
        "test": {
            "version": 2,
            "digest": DIGEST,
            "passed": False,
            "service": "iris-test",
            "report": {
                "checks": [
                    {"name": "accuracy", "passed": True, "value": 0.97, "bound": ">= 0.9"},
                    {
                        "name": "latency_p95_ms",
                        "passed": False,
                        "value": 250.0,
                        "bound": "<= 200",
                        "message": "too slow",
                    },
                    {"name": "identity", "passed": True},
                ]
            },
        },
        "production": {
            "version": 1,
            "digest": OLD,
            "service": "iris",
            "readyReplicas": 2,
            "promotedAt": "2026-01-01T00:10:00Z",
            "approvedBy": "jane",
        },
        "conditions": [
            {
                "type": "Approved",
                "status": "False",
                "reason": "TestNotPassed",
                "message": "version 2 failed",
            },
            {
                "type": "RolledBack",
                "status": "True",
                "reason": "ProgressDeadlineExceeded",
                "message": "version 3 never became ready",
            },
        ],
        "autoApproval": {"version": 1, "digest": OLD, "rule": "accuracy 0.9 >= 0.8", "at": "x"},
        "drift": {
            "overall": 0.12,
            "max": 0.4,
            "rows": 500,
            "pods": 2,
            "checkedAt": "2026-01-01T00:20:00Z",
            "worst": "petal_length",
            "error": "pod iris-x: timeout",
        },
    },
}
# a Deployment the operator has not reported on yet, with an empty section
BARE: dict[str, Any] = {
    "metadata": {"name": "canary"},
    "spec": {"modelRef": {"name": "iris"}},
    "status": {"production": {}},
}

# The screen as the command printed it before it moved out of the operator package (dict
# lookups then, typed status now): the move and the typing must not change a character.
SCREEN = """\
Model ml/iris: classification with random_forest on builtin:iris
  phase Ready; Ready=True VersionAvailable: version 2
  latest version 2 (sha256:abababababab…) accuracy=0.97, f1_macro=0.9687, roc_auc=0.99
  retraining  Deferred (Cooldown) since 2026-01-01T00:00:00Z: cooling down
              next automatic training from 2026-01-01T01:00:00Z
  queued: a manual training waits for iris-drift-1

  Versions
    VERSION  GATES   METRICS        TRAINED BY
    2        passed  accuracy=0.97  iris-g2
    1        failed  accuracy=0.5   iris-g1

  Training
    TRAININGJOB   TRIGGER      PHASE      VERSION  ATTEMPTS  REASON
    iris-g1       spec-change  Failed     -        3         BadInput
    iris-g2       spec-change  Succeeded  2        1         changed
    iris-drift-1  drift        -          -        0         psi 0.4

  Deployment iris: phase Serving
    test        version 2 FAILED (service iris-test)
      ok  accuracy: 0.97 >= 0.9
      BAD latency_p95_ms: 250.0 <= 200 too slow
      ok  identity: None
    production  version 1, 2 ready, promoted 2026-01-01T00:10:00Z by jane
    approval    TestNotPassed: version 2 failed
    rolled back version 3 never became ready
    auto        version 1: accuracy 0.9 >= 0.8
    drift       PSI 0.12 (max 0.4) over 500 rows from 2 pods at 2026-01-01T00:20:00Z \
(worst: petal_length)
                unreadable: pod iris-x: timeout

  Deployment canary: phase -
    production  nothing yet
    approval    -"""


def test_status_screen_shows_versions_training_and_stages() -> None:
    assert render_model(MODEL, TRAINING_JOBS, [SERVING, BARE]) == SCREEN


def test_status_screen_of_a_model_the_operator_has_not_seen_yet() -> None:
    fresh = {"metadata": {"name": "wine", "namespace": "ml"}, "spec": MODEL["spec"]}
    assert render_model(fresh, [], []) == (
        "Model ml/wine: classification with random_forest on builtin:iris\n  phase -; Ready=?"
    )


def test_approve_command_approves_only_the_passing_tested_version() -> None:
    status = {"test": {"version": 3, "digest": DIGEST, "passed": True}}
    # No name is sent: the cluster records who approved from the request itself.
    assert approval_for(status, None) == {"version": 3, "digest": DIGEST}
    assert approval_for(status, 3)["version"] == 3
    assert refusal(status, 2) == "version 2 is not the tested version (3 passed)"
    failed = {"test": {"version": 3, "passed": False}}
    assert refusal(failed) == "nothing to approve: version 3 failed its tests"
    testing = {"test": {"version": 3}}
    assert refusal(testing) == "nothing to approve: version 3 has not finished testing"
    assert refusal({}) == "nothing to approve: version ? has not finished testing"


def refusal(status: dict[str, Any], wanted: int | None = None) -> str:
    with pytest.raises(ValueError) as refused:
        approval_for(status, wanted)
    return str(refused.value)


def test_every_command_is_registered_in_order() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert list(commands) == [
        "crds",
        "catalog",
        "dev",
        "approve",
        "promote",
        "abort",
        "status",
        "wait",
        "demo",
    ]


def test_without_the_development_tools_their_commands_are_simply_absent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # what the runtime image looks like: neither package is installed there
    for package in ("modelship.devcluster", "modelship.demo"):
        monkeypatch.setitem(sys.modules, package, None)
        monkeypatch.delitem(sys.modules, f"{package}.cli", raising=False)
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert list(commands) == ["crds", "catalog", "approve", "promote", "abort", "status", "wait"]


def test_approve_prints_the_approver_the_cluster_recorded_or_fails_without_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    approval = {"version": 3, "digest": DIGEST}
    identity = ApproverIdentity(
        user="jane", groups=("ml-approvers", "system:authenticated"), of=fingerprint(approval)
    )
    written = {"metadata": {"annotations": identity.annotations()}, "spec": {"approval": approval}}
    assert report("ml", "iris", approval, written) == 0
    assert capsys.readouterr().out == (
        f"approved version 3 ({DIGEST[:19]}…) of ml/iris; recorded approver: jane [ml-approvers]\n"
    )
    unrecorded = {"metadata": {}, "spec": {"approval": approval}}
    assert report("ml", "iris", approval, unrecorded) == 1
    assert "the cluster recorded no approver" in capsys.readouterr().err
