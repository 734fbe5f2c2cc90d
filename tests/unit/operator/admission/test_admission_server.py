"""The webhook's certificate and HTTPS server, without a cluster: generated or mounted pairs,
reloading on renewal, and one AdmissionReview answered over TLS."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from modelship.contracts.approval import APPROVED_AT, APPROVED_BY
from modelship.devcluster.webhooks import configurations, pointed_at
from modelship.operator.admission import certificate_names
from modelship.operator.admission.certs import (
    ReloadingCertificate,
    certificate,
    self_signed,
    write_pair,
)
from modelship.operator.admission.review import AdmissionRequest, ReviewPolicy, patch_for
from modelship.operator.admission.server import AdmissionServer
from modelship.operator.kube.resources import SUBJECT_ACCESS_REVIEWS, Resource
from modelship.operator.settings import OperatorSettings
from support.operator import free_port

Obj = dict[str, Any]


def sans(pem: bytes) -> list[str]:
    ext = x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    return [str(name.value) for name in ext.value]


def test_a_generated_certificate_names_the_dns_names_and_ip_addresses_it_serves() -> None:
    cert, key = self_signed(["modelship-operator-webhook.modelship-system.svc", "127.0.0.1"])
    assert sans(cert) == ["modelship-operator-webhook.modelship-system.svc", "127.0.0.1"]
    assert b"PRIVATE KEY" in key
    names = certificate_names(OperatorSettings(admission_host="10.1.2.3"))
    assert names == ["localhost", "127.0.0.1", "10.1.2.3"]
    assert "0.0.0.0" not in certificate_names(OperatorSettings())


def test_a_missing_pair_is_generated_and_a_mounted_one_is_used(tmp_path: Path) -> None:
    generated = certificate("", "", str(tmp_path / "gen"), ["127.0.0.1"])
    assert generated.cert_file == tmp_path / "gen" / "tls.crt"
    assert (tmp_path / "gen" / "tls.key").stat().st_mode & 0o077 == 0  # the key is private
    cert, key = self_signed(["mounted.example"])
    write_pair(tmp_path / "tls.crt", tmp_path / "tls.key", cert, key)
    mounted = certificate(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"), "", [])
    assert mounted.cert_file == tmp_path / "tls.crt"


def test_a_renewed_pair_is_loaded_without_a_restart(tmp_path: Path) -> None:
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    write_pair(cert_file, key_file, *self_signed(["old.example"]))
    loaded = ReloadingCertificate(cert_file, key_file)
    assert not loaded.reload_if_changed()  # nothing changed
    time.sleep(0.01)
    write_pair(cert_file, key_file, *self_signed(["new.example"]))
    assert loaded.reload_if_changed()
    cert_file.write_text("half-written")  # a broken pair keeps the previous one
    assert not loaded.reload_if_changed()


class Authorizer:
    """Answers SubjectAccessReviews: allows the users it was given."""

    def __init__(self, allowed: set[str]) -> None:
        self.allowed, self.asked = allowed, []  # type: list[Obj]

    def create(self, res: Resource, namespace: str | None, body: Obj) -> Obj:
        assert res == SUBJECT_ACCESS_REVIEWS and namespace is None
        self.asked.append(body)
        return {**body, "status": {"allowed": body["spec"]["user"] in self.allowed}}

    def close(self) -> None:
        pass


def review_body(user: str) -> Obj:
    approval = {"version": 1}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-42",
            "operation": "UPDATE",
            "namespace": "ml",
            "name": "iris",
            "resource": {"group": "modelship.io", "version": "v1alpha1", "resource": "deployments"},
            "userInfo": {"username": user, "groups": ["system:authenticated"]},
            "object": {"metadata": {"name": "iris"}, "spec": {"approval": approval}},
            "oldObject": {"metadata": {"name": "iris"}, "spec": {}},
        },
    }


@pytest.mark.parametrize(("user", "allowed"), [("bob", True), ("alice", False)])
async def test_an_admission_review_is_answered_over_tls(
    tmp_path: Path, user: str, allowed: bool
) -> None:
    authorizer = Authorizer({"bob"})
    cert = certificate("", "", str(tmp_path), ["127.0.0.1"])
    server = AdmissionServer(authorizer, cert, ReviewPolicy())  # type: ignore[arg-type]
    port = free_port()
    await server.start("127.0.0.1", port, reload_seconds=60)
    try:
        trust = ssl.create_default_context(cafile=str(cert.cert_file))
        async with httpx.AsyncClient(verify=trust) as client:
            mutated = await client.post(f"https://127.0.0.1:{port}/mutate", json=review_body(user))
            checked = await client.post(
                f"https://127.0.0.1:{port}/validate", json=review_body(user)
            )
    finally:
        await server.stop()
    answer = mutated.json()["response"]
    assert answer["uid"] == "u-42" and answer["allowed"] is allowed
    assert ("patch" in answer) is allowed  # the identity annotations, only when admitted
    assert len(authorizer.asked) == 2  # mutate and validate both asked
    # The final object lacks the annotations the mutation adds: validation refuses it.
    assert checked.json()["response"]["allowed"] is False


def test_the_shipped_configurations_cover_only_approvals_and_fail_closed() -> None:
    configs = configurations(Path(__file__).parents[4] / "manifests" / "webhook" / "webhooks.yaml")
    hooks = [(c["kind"], h) for c in configs for h in c["webhooks"]]
    for _, hook in hooks:
        [rule] = hook["rules"]
        assert rule["apiGroups"] == ["modelship.io"] and rule["operations"] == ["CREATE", "UPDATE"]
        assert rule["resources"] in (["deployments"], ["models"])  # no status subresource
        assert hook["sideEffects"] == "None" and hook["admissionReviewVersions"] == ["v1"]
        # Deployments: a security control, so Fail; Models: Ignore (see webhooks.yaml).
        expected = "Fail" if rule["resources"] == ["deployments"] else "Ignore"
        assert hook["failurePolicy"] == expected
    assert {(kind, h["clientConfig"]["service"]["path"]) for kind, h in hooks} == {
        ("MutatingWebhookConfiguration", "/mutate"),
        ("ValidatingWebhookConfiguration", "/validate"),
    }
    local = pointed_at(configs[0], "https://127.5.0.3:9443", "PEM")
    assert {h["clientConfig"]["url"] for h in local["webhooks"]} == {
        "https://127.5.0.3:9443/mutate"
    }
    assert "annotations" not in local["metadata"]  # no cert-manager injection on the local cluster


async def test_validation_accepts_the_mutated_object_even_a_second_later(tmp_path: Path) -> None:
    """The validating webhook sees the mutating webhook's output; its record was made earlier
    (possibly in another second) and must still match."""
    server = AdmissionServer(
        Authorizer({"bob"}),  # type: ignore[arg-type]
        certificate("", "", str(tmp_path), ["127.0.0.1"]),
        ReviewPolicy(),
    )
    request = AdmissionRequest.model_validate(review_body("bob")["request"])
    mutated = server.decide(request)
    assert mutated.allowed
    earlier = {**mutated.annotations, APPROVED_AT: "2000-01-01T00:00:00Z"}
    final = request.new | {"metadata": {"name": "iris", "annotations": earlier}}
    validated = AdmissionRequest.model_validate(review_body("bob")["request"] | {"object": final})
    verdict = server.decide(validated, validating=True)
    assert verdict.allowed and patch_for(validated, verdict) == []
    # A record changed after the mutation (another approver's name) is not accepted.
    forged = final | {"metadata": {"name": "iris", "annotations": {**earlier, APPROVED_BY: "eve"}}}
    tampered = AdmissionRequest.model_validate(review_body("bob")["request"] | {"object": forged})
    assert patch_for(tampered, server.decide(tampered, validating=True)) != []


async def test_an_approval_is_answered_while_every_shared_thread_waits_on_the_api_server(
    tmp_path: Path,
) -> None:
    """Reconciles and clock passes run on the loop's shared executor and may all wait on a slow
    API server; the webhook has threads of its own, so the API server's 10 s call does not time
    out behind them (which failed every write to a Deployment meanwhile)."""
    authorizer = Authorizer({"bob"})
    cert = certificate("", "", str(tmp_path), ["127.0.0.1"])
    server = AdmissionServer(authorizer, cert, ReviewPolicy())  # type: ignore[arg-type]
    port = free_port()
    await server.start("127.0.0.1", port, reload_seconds=60)
    release = threading.Event()
    blocked = [asyncio.to_thread(release.wait, 10) for _ in range(64)]  # more than it holds
    waiting = asyncio.gather(*blocked)
    try:
        trust = ssl.create_default_context(cafile=str(cert.cert_file))
        async with httpx.AsyncClient(verify=trust, timeout=3) as client:
            started = time.monotonic()
            mutated = await client.post(f"https://127.0.0.1:{port}/mutate", json=review_body("bob"))
            answered_in = time.monotonic() - started
    finally:
        release.set()
        await waiting
        await server.stop()
    assert mutated.json()["response"]["allowed"] is True
    assert answered_in < 2.0
