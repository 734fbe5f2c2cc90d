"""The approval webhook through its Service, with certificates the operator keeps, live.

A fresh `kubectl apply -k manifests/default` (no cert-manager, no `modelship dev` command, the
Secret deleted first): the leader issues the pair, injects the CA, both replicas serve it, and
an iris Model goes from apply to Serving with an approval admitted through the Service. Then,
under a steady stream of Deployment writes and approvals (a writer thread, admin credentials,
each write going through both webhooks): the operator pod that last answered is deleted, the
operator Deployment is rolled, and certificates are rotated several times (lifetimes of
40 s, set below): not one write may be refused. Which replica answered comes from the API
server's audit log (`<webhook>/served-by`, set by the webhook).
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from modelship.contracts.approval import APPROVED_BY
from modelship.devcluster.cluster import DevCluster
from modelship.operator.kube.client import Kube, KubeError, load_api_client
from modelship.operator.kube.resources import (
    MODEL_DEPLOYMENTS,
    MUTATING_WEBHOOKS,
    SECRETS,
    VALIDATING_WEBHOOKS,
)
from support.factories import iris_deployment
from support.in_cluster import SYSTEM, InClusterOperator
from support.kubectl import MANIFESTS, Kubectl
from support.live import awaiting_approval, wait_for_status
from support.target import Target
from support.waiting import wait_for

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
SECRET = "modelship-operator-webhook-tls"
SERVICE_NAME = "modelship-operator-webhook.modelship-system.svc"
WEBHOOK_PORT = 9443
SERVED_BY = "approvals.deployments.modelship.io/served-by"
# Certificates of 40 s, a new pair staged 25 s before expiry: a rotation every ~15 s, and 25 s
# for every replica and the API server to take a new pair before the old one expires.
OPERATOR_ENV = {
    "MODELSHIP_OPERATOR_ADMISSION_CERTIFICATE_LIFETIME_SECONDS": "40",
    "MODELSHIP_OPERATOR_ADMISSION_ROTATE_BEFORE_SECONDS": "25",
    "MODELSHIP_OPERATOR_ADMISSION_PROPAGATION_SECONDS": "3",
    "MODELSHIP_OPERATOR_ADMISSION_RELOAD_SECONDS": "1",
}
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def operator(target: Target, kube: Kube, kubectl: Kubectl) -> Iterator[InClusterOperator]:
    """manifests/default applied fresh: no webhook Secret from before, nothing pointed by hand."""
    if target.operator_deployed:
        pytest.fail("this module deploys the operator fresh (it deletes the webhook's Secret)")
    kube.delete(SECRETS, SYSTEM, SECRET)
    deployed = InClusterOperator(kube, kubectl)
    deployed.deploy(OPERATOR_ENV)  # returns once a write is admitted through the Service
    yield deployed
    deployed.remove()
    kube.delete(SECRETS, SYSTEM, SECRET)


def secret_data(kube: Kube) -> dict[str, bytes]:
    secret = kube.get(SECRETS, SYSTEM, SECRET) or {}
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def ca_bundles(kube: Kube) -> list[bytes]:
    bundles = []
    for res in (MUTATING_WEBHOOKS, VALIDATING_WEBHOOKS):
        config = kube.get(res, None, "modelship-approvals")
        assert config is not None
        bundles += [base64.b64decode(h["clientConfig"]["caBundle"]) for h in config["webhooks"]]
    return bundles


def served_certificate(address: str, ca_pem: bytes) -> x509.Certificate:
    """The certificate a replica presents, verified against `ca_pem` for the Service's name."""
    trust = ssl.create_default_context(cadata=ca_pem.decode())
    with (
        socket.create_connection((address, WEBHOOK_PORT), timeout=5) as raw,
        trust.wrap_socket(raw, server_hostname=SERVICE_NAME) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


@dataclass
class Writer:
    """Writes a modelship Deployment through the webhooks until stopped: alternately a new
    approval (the webhook asks the authorizer and records the approver) and an annotation
    (the webhook carries the record over). Every refusal is kept with its message."""

    kubeconfig: Path
    namespace: str
    name: str = "webhook-probe"
    done: int = 0
    refused: list[str] = field(default_factory=list)
    approvals: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._kube = Kube(load_api_client(str(self.kubeconfig)))

    def _run(self) -> None:
        while not self._stop.is_set():
            n = self.done + 1
            if n % 2:
                patch: Obj = {"spec": {"approval": {"version": n, "digest": DIGEST}}}
            else:
                patch = {"metadata": {"annotations": {"example.com/write": str(n)}}}
            try:
                self._kube.patch(MODEL_DEPLOYMENTS, self.namespace, self.name, patch)
                self.approvals += n % 2
            except KubeError as exc:
                self.refused.append(f"write {n}: {exc}")
            self.done = n
            time.sleep(0.1)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._kube.close()


def last_answered_by(cluster: DevCluster, namespace: str, name: str) -> str:
    """The operator pod that admitted the latest write of `name`, from the audit log."""
    found = ""
    for line in cluster.layout.audit_log.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        ref = event.get("objectRef") or {}
        if ref.get("namespace") == namespace and ref.get("name") == name:
            found = (event.get("annotations") or {}).get(SERVED_BY, found)
    return found


def test_a_fresh_apply_issues_injects_and_serves_the_certificate_on_every_replica(
    operator: InClusterOperator, kube: Kube
) -> None:
    data = secret_data(kube)
    assert {"tls.crt", "tls.key", "ca.crt", "ca-bundle.crt"} <= set(data)
    assert "ca.key" not in data  # no signing key is kept
    cert = x509.load_pem_x509_certificate(data["tls.crt"])
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {
        SERVICE_NAME,
        SERVICE_NAME + ".cluster.local",
    }
    # Every webhook of both configurations trusts the Secret's bundle (rotations may be under
    # way: wait for a moment they agree).
    wait_for(
        lambda: set(ca_bundles(kube)) == {secret_data(kube)["ca-bundle.crt"]},
        timeout=30,
        what="both configurations to trust the Secret's bundle",
    )
    for pod in operator.running_pods():
        bundle = secret_data(kube)["ca-bundle.crt"]
        served = served_certificate(pod["status"]["podIP"], bundle)
        assert served.issuer in {c.subject for c in x509.load_pem_x509_certificates(bundle)}, pod[
            "metadata"
        ]["name"]


def test_a_model_goes_from_apply_to_serving_with_an_approval_through_the_service(
    operator: InClusterOperator, kube: Kube, kubectl: Kubectl, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-k", str(MANIFESTS / "samples"))
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris", awaiting_approval(1), timeout=420,
        what="iris to pass its tests", describe=operator.describe,
    )  # fmt: skip
    approved = subprocess.run(
        [sys.executable, "-m", "modelship.cli", "approve", "iris", "-n", namespace,
         "--kubeconfig", str(kubectl.kubeconfig)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    body = kube.get(MODEL_DEPLOYMENTS, namespace, "iris") or {}
    assert body["metadata"]["annotations"].get(APPROVED_BY)  # recorded by the webhook
    wait_for_status(
        kube, MODEL_DEPLOYMENTS, namespace, "iris", lambda s: s.get("phase") == "Serving",
        timeout=300, what="iris to serve", describe=operator.describe,
    )  # fmt: skip


def test_writes_keep_being_admitted_when_the_answering_pod_goes_and_the_operator_rolls(
    operator: InClusterOperator,
    kube: Kube,
    kubectl: Kubectl,
    namespace: str,
    dev_cluster: DevCluster,
) -> None:
    kube.create(MODEL_DEPLOYMENTS, namespace, iris_deployment("webhook-probe"))
    with Writer(kubectl.kubeconfig, namespace) as writer:
        wait_for(lambda: writer.done >= 10, timeout=60, what="the first writes")
        answered = wait_for(
            lambda: last_answered_by(dev_cluster, namespace, "webhook-probe"),
            timeout=30,
            what="the audit log to name the replica that answered",
        )
        pods = {p["metadata"]["name"] for p in operator.pods()}
        assert answered in pods, (answered, pods)
        before = writer.done
        kubectl("delete", "pod", "-n", SYSTEM, answered, "--wait=false")
        wait_for(
            lambda: (
                answered not in {p["metadata"]["name"] for p in operator.pods()}
                and operator.running_pod() is not None
            ),
            timeout=180,
            what=f"{answered} to be replaced",
            describe=operator.describe,
        )
        wait_for(lambda: writer.done >= before + 20, timeout=60, what="writes after the deletion")
        # A rolling update of the operator: every pod replaced, one at a time.
        kubectl("rollout", "restart", "deployment/modelship-operator", "-n", SYSTEM)
        time.sleep(2)
        operator.wait_running()
        after = writer.done
        wait_for(lambda: writer.done >= after + 20, timeout=60, what="writes after the rollout")
    assert writer.refused == [], writer.refused
    assert writer.approvals >= 20
    body = kube.get(MODEL_DEPLOYMENTS, namespace, "webhook-probe") or {}
    assert body["metadata"]["annotations"].get(APPROVED_BY)
    assert {last_answered_by(dev_cluster, namespace, "webhook-probe")} <= {
        p["metadata"]["name"] for p in operator.pods()
    }


def test_certificates_rotate_under_continuous_approvals_with_none_refused(
    operator: InClusterOperator, kube: Kube, kubectl: Kubectl, namespace: str
) -> None:
    kube.create(MODEL_DEPLOYMENTS, namespace, iris_deployment("webhook-probe"))
    served: list[bytes] = []

    def rotations() -> int:
        current = secret_data(kube).get("tls.crt", b"")
        if current and (not served or served[-1] != current):
            served.append(current)
        return len(served) - 1

    with Writer(kubectl.kubeconfig, namespace) as writer:
        wait_for(lambda: rotations() >= 3, timeout=150, interval=1, what="three rotations")
        wait_for(lambda: writer.done >= 40, timeout=60, what="enough writes")
    assert writer.refused == [], writer.refused
    assert writer.approvals >= 20
    serials = {x509.load_pem_x509_certificate(pem).serial_number for pem in served}
    assert len(serials) == len(served) >= 4
    # Each rotation made a new CA, and the bundle the configurations trust holds what is served.
    bundle = secret_data(kube)["ca-bundle.crt"]
    issuers = {c.subject for c in x509.load_pem_x509_certificates(bundle)}
    assert x509.load_pem_x509_certificate(served[-1]).issuer in issuers
