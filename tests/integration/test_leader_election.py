"""Two operators against one cluster: one acts, the other writes nothing until it takes over.

Each operator runs as a real process under its own ServiceAccount (bound to the shipped
ClusterRole and leader-election Role), so the API server's audit log attributes every request
to one of them: that is how "the standby made no write request at all" is shown, and "two never
acted at once" (every write of one comes before every write of the other). The Lease timings
are the shipped defaults (15 s / 10 s / 2 s).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import kubernetes
import pytest
import yaml

from modelship.devcluster.audit import AuditRecord, read_audit
from modelship.devcluster.cluster import DevCluster
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import LEASES, MODEL_DEPLOYMENTS, MODELS
from support.accounts import service_account_token
from support.factories import iris_deployment, iris_model
from support.kubectl import WEBHOOK_KINDS, Kubectl, render
from support.live import approve, awaiting_approval, wait_for_status
from support.operator import OperatorProcess
from support.waiting import wait_for
from support.webhook import remove_webhook_configurations

pytestmark = pytest.mark.integration
SYSTEM = "modelship-system"
LEASE = "modelship-operator"
DEFAULT_TIMING = {
    "lease_duration_seconds": "15",
    "lease_renew_deadline_seconds": "10",
    "lease_retry_period_seconds": "2",
}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def installed(kubectl: Kubectl) -> None:
    """The shipped namespace, CRDs and RBAC, without the operator Deployment."""
    kubectl.apply(
        [
            d
            for d in render("default")
            if d["kind"] != "Deployment" and d["kind"] not in WEBHOOK_KINDS
        ]
    )


def service_account_kubeconfig(
    kubectl: Kubectl, kube_api: kubernetes.client.ApiClient, name: str, out: Path
) -> Path:
    """A ServiceAccount with the operator's shipped rights, and a kubeconfig that uses it."""
    docs = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"test-{name}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "modelship-operator",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": SYSTEM}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"test-{name}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "modelship-leader-election",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": SYSTEM}],
        },
    ]
    kubectl.apply(docs, "-n", SYSTEM)
    core = kubernetes.client.CoreV1Api(kube_api)

    admin = yaml.safe_load(kubectl.kubeconfig.read_text())
    admin["users"] = [{"name": name, "user": {"token": service_account_token(core, SYSTEM, name)}}]
    for context in admin["contexts"]:
        context["context"]["user"] = name
    out.write_text(yaml.safe_dump(admin))
    return out


@pytest.fixture(scope="module")
def pair(
    installed: None,
    kubectl: Kubectl,
    kube_api: kubernetes.client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, OperatorProcess]]:
    """Operators `a` and `b`, each under its own ServiceAccount; started by the tests."""
    root = tmp_path_factory.mktemp("election")
    processes = {
        name: OperatorProcess(
            service_account_kubeconfig(kubectl, kube_api, f"op-{name}", root / f"{name}.yaml"),
            tmp_path_factory.mktemp(f"operator-{name}"),
            lease_identity=f"op-{name}",
            rollout_deadline_seconds="90",  # a loaded host may need more than 30 s
            **DEFAULT_TIMING,
        )
        for name in ("a", "b")
    }
    yield processes
    remove_webhook_configurations(kubectl.kubeconfig)
    for process in processes.values():
        process.stop()


def holder(kube: Kube) -> str:
    lease = kube.get(LEASES, SYSTEM, LEASE) or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def requests_of(cluster: DevCluster, account: str, since: str, until: str) -> list[AuditRecord]:
    user = f"system:serviceaccount:{SYSTEM}:{account}"
    return [
        r for r in read_audit(cluster.layout.audit_log, since) if r.user == user and r.at <= until
    ]


def test_one_acts_the_standby_writes_nothing_and_takes_over_a_rollout_when_the_leader_dies(
    pair: dict[str, OperatorProcess],
    kube: Kube,
    kubectl: Kubectl,
    dev_cluster: DevCluster,
    namespace: str,
) -> None:
    a, b = pair["a"], pair["b"]
    a.start()
    wait_for(lambda: holder(kube).startswith("op-a_"), timeout=30, what="a to lead")
    b.start()  # its health endpoint answers while it stands by
    wait_for(lambda: "standing by" in b.tail(200), timeout=30, what="b to say it stands by")
    # Admission needs no leader: the standby serves the approval webhook.
    b.serve_webhooks(kubectl.kubeconfig)
    standby_from = now()

    kube.create(MODELS, namespace, iris_model("iris"))
    kube.create(MODEL_DEPLOYMENTS, namespace, iris_deployment("iris"))
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris", awaiting_approval(1), timeout=180,
        describe=a.tail,
    )  # fmt: skip
    approve(kube, namespace, "iris")
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris", lambda s: s.get("phase") == "Promoting",
        timeout=60, describe=a.tail,
    )  # fmt: skip

    # While a led, b read only the Lease, and asked the authorizer whether the approver may
    # approve (a SubjectAccessReview is a question, stored nowhere): it admitted the approval.
    b_requests = requests_of(dev_cluster, "op-b", standby_from, now())
    assert b_requests, "b's requests must be in the audit log (or this proves nothing)"
    assert {(r.verb, r.resource) for r in b_requests} == {
        ("get", "leases"),
        ("create", "subjectaccessreviews"),
    }
    assert requests_of(dev_cluster, "op-a", standby_from, now())  # a did the work

    # The leader dies mid-rollout: b takes over within 20 s and finishes it.
    os_kill = time.monotonic()
    a.kill()
    killed_at = now()
    wait_for(lambda: holder(kube).startswith("op-b_"), timeout=30, what="b to take the Lease")
    takeover = time.monotonic() - os_kill
    assert takeover <= 20, f"took {takeover:.1f}s"
    serving = wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris", lambda s: s.get("phase") == "Serving",
        timeout=120, describe=b.tail,
    )  # fmt: skip
    assert serving["production"]["version"] == 1

    # Never both: every write of a's came before b's first one (Lease writes aside).
    def writes(account: str) -> list[str]:
        return [
            r.at
            for r in requests_of(dev_cluster, account, standby_from, now())
            if r.is_write and r.resource not in ("leases", "subjectaccessreviews")
        ]

    a_writes, b_writes = writes("op-a"), writes("op-b")
    assert a_writes and b_writes
    assert max(a_writes) <= killed_at < min(b_writes)


def test_a_leader_that_cannot_renew_stops_before_anyone_else_may_start(
    pair: dict[str, OperatorProcess], kube: Kube, kubectl: Kubectl
) -> None:
    """b leads now (the previous test); a comes back as standby. Take b's Lease rights away:
    b must stop acting (exit) at its renew deadline, before a may take over (lease duration)."""
    a, b = pair["a"], pair["b"]
    a.start()
    wait_for(lambda: "standing by" in a.tail(200), timeout=30, what="a to stand by")
    assert holder(kube).startswith("op-b_")
    kubectl("delete", "rolebinding", "-n", SYSTEM, "test-op-b")
    revoked = time.monotonic()
    assert b.process is not None
    code = b.process.wait(timeout=30)
    stopped = time.monotonic() - revoked
    assert code == 3, b.tail()
    assert "lost leadership" in b.tail(200)
    wait_for(lambda: holder(kube).startswith("op-a_"), timeout=30, what="a to take the Lease")
    took_over = time.monotonic() - revoked
    assert stopped < took_over, (stopped, took_over)
    assert stopped <= 12  # the renew deadline (10 s) and one retry period


def test_a_clean_shutdown_hands_the_lease_over_at_once(
    pair: dict[str, OperatorProcess], kube: Kube
) -> None:
    a = pair["a"]
    assert holder(kube).startswith("op-a_")
    # Even when stopped while Kopf is still starting up (it skips its cleanup handlers then),
    # the process hands the Lease back on its way out.
    a.stop()  # SIGTERM
    assert "released Lease" in a.tail(200)
    assert holder(kube) == ""  # a standby would take it at its next try, not a lease later
