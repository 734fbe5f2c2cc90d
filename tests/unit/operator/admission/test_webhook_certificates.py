"""The webhook's certificates without a cluster: what is issued (names, expiry, signature), how
the Secret moves through staging, trust and promotion, what the leader writes and injects, when
it keeps off (cert-manager), and that a replica never serves without a loaded pair."""

from __future__ import annotations

import asyncio
import base64
import datetime
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from modelship.operator.admission.authority import (
    Pair,
    fingerprint,
    issue,
    key_matches,
    service_names,
    signed_by,
    split_bundle,
)
from modelship.operator.admission.certs import SecretCertificate
from modelship.operator.admission.keeper import CertificateKeeper
from modelship.operator.admission.review import ReviewPolicy, Verdict
from modelship.operator.admission.rotation import (
    TRUSTED_SINCE,
    RotationPolicy,
    SecretError,
    WebhookTLS,
    parse_secret,
    plan,
    secret_body,
)
from modelship.operator.admission.server import AdmissionServer, response
from modelship.operator.kube.resources import MUTATING_WEBHOOKS, SECRETS, VALIDATING_WEBHOOKS
from modelship.operator.settings import OperatorSettings
from support.fake_kube import FakeKube
from support.operator import free_port

Obj = dict[str, Any]
NAMES = service_names("modelship-operator-webhook", "modelship-system")
T0 = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
S = datetime.timedelta(seconds=1)
POLICY = RotationPolicy(NAMES, lifetime=100 * S, rotate_before=40 * S, propagation=5 * S)


def test_a_pair_names_the_services_dns_names_and_expires_with_its_ca() -> None:
    assert NAMES == (
        "modelship-operator-webhook.modelship-system.svc",
        "modelship-operator-webhook.modelship-system.svc.cluster.local",
    )
    pair = issue(NAMES, T0, 100 * S)
    assert pair.names == NAMES
    ca = x509.load_pem_x509_certificate(pair.ca_pem)
    assert pair.not_after == ca.not_valid_after_utc == T0 + 100 * S
    assert pair.cert.not_valid_before_utc < T0  # a little clock skew is tolerated
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not pair.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert signed_by(pair) and key_matches(pair)
    other = issue(NAMES, T0, 100 * S)
    assert not signed_by(Pair(other.ca_pem, pair.cert_pem, pair.key_pem))
    assert not key_matches(Pair(pair.ca_pem, pair.cert_pem, other.key_pem))
    with pytest.raises(ValueError, match="DNS name"):
        issue((), T0, S)


def test_openssl_verifies_the_serving_certificate_for_the_service_name(tmp_path: Path) -> None:
    """What the API server does, by an independent implementation: chain and host name."""
    pair = issue(NAMES, datetime.datetime.now(datetime.UTC), datetime.timedelta(hours=1))
    (tmp_path / "ca.pem").write_bytes(pair.ca_pem)
    (tmp_path / "cert.pem").write_bytes(pair.cert_pem)
    verify = ["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), "-purpose", "sslserver"]
    for name, ok in ((NAMES[0], True), (NAMES[1], True), ("evil.example", False)):
        result = subprocess.run(
            [*verify, "-verify_hostname", name, str(tmp_path / "cert.pem")],
            capture_output=True,
            text=True,
        )
        assert (result.returncode == 0) is ok, result.stdout + result.stderr


def trusting(*pairs: Pair) -> tuple[bytes, ...]:
    return tuple(p.ca_pem for p in pairs)


def test_a_first_start_serves_at_once_when_nothing_was_trusted_before() -> None:
    first = plan(None, T0, POLICY, ())
    assert first.current is not None and first.next is None
    assert first.bundle == (first.current.ca_pem,)
    assert plan(first, T0 + S, POLICY, ()) == first  # steady, injected or not


def test_a_lost_secret_is_staged_while_the_replicas_old_pair_stays_trusted() -> None:
    """The Secret was deleted (replicas keep serving its pair): the new pair waits until the
    configurations trust its CA, then `propagation` more, and the old CA stays in the bundle."""
    lost = issue(NAMES, T0, 100 * S)
    staged = plan(None, T0, POLICY, trusting(lost))
    assert staged.current is None and staged.next is not None
    fresh = staged.next
    assert staged.bundle == (lost.ca_pem, fresh.ca_pem)
    # Not trusted by the configurations yet: nothing moves.
    assert plan(staged, T0 + S, POLICY, trusting(lost)) == staged
    trusted = plan(staged, T0 + S, POLICY, trusting(lost, fresh))
    assert trusted.trusted_since == T0 + S and trusted.current is None
    assert plan(trusted, T0 + 5 * S, POLICY, trusting(lost, fresh)) == trusted  # propagating
    served = plan(trusted, T0 + 6 * S, POLICY, trusting(lost, fresh))
    assert served.current == fresh and served.next is None and served.trusted_since is None
    assert served.bundle == (lost.ca_pem, fresh.ca_pem)
    # An expired CA found in the configurations is not carried over.
    assert plan(None, T0 + 100 * S, POLICY, trusting(lost)).next is None


def test_no_webhook_calling_the_service_means_nobody_to_wait_for() -> None:
    old = issue(NAMES, T0, 100 * S)
    staged = plan(WebhookTLS(old, None, (old.ca_pem,)), T0 + 60 * S, POLICY, (), vacuous=True)
    trusted = plan(staged, T0 + 60 * S, POLICY, (), vacuous=True)
    assert plan(trusted, T0 + 60 * S, POLICY, (), vacuous=True).current == staged.next


def test_a_rotation_overlaps_the_old_ca_with_the_new_one_until_the_old_one_expires() -> None:
    old = issue(NAMES, T0, 100 * S)
    state = WebhookTLS(old, None, (old.ca_pem,))
    assert plan(state, T0 + 59 * S, POLICY, trusting(old)) == state  # not due yet
    staged = plan(state, T0 + 60 * S, POLICY, trusting(old))
    assert staged.current == old and staged.next is not None
    new = staged.next
    assert staged.bundle == (old.ca_pem, new.ca_pem)  # both trusted before the new one serves
    trusted = plan(staged, T0 + 61 * S, POLICY, trusting(old, new))
    promoted = plan(trusted, T0 + 66 * S, POLICY, trusting(old, new))
    assert promoted.current == new and promoted.bundle == (old.ca_pem, new.ca_pem)
    # The old CA leaves the bundle only once it has expired: replicas had until then to reload.
    assert plan(promoted, T0 + 99 * S, POLICY, trusting(old, new)).bundle == promoted.bundle
    assert plan(promoted, T0 + 100 * S, POLICY, trusting(old, new)).bundle == (new.ca_pem,)


def test_a_configuration_that_lost_the_new_ca_restarts_the_wait() -> None:
    old = issue(NAMES, T0, 100 * S)
    staged = plan(WebhookTLS(old, None, (old.ca_pem,)), T0 + 60 * S, POLICY, trusting(old))
    assert staged.next is not None
    trusted = plan(staged, T0 + 61 * S, POLICY, trusting(old, staged.next))
    # Someone re-applied the configurations without the new CA: not promoted, wait again.
    again = plan(trusted, T0 + 70 * S, POLICY, trusting(old))
    assert again.current == old and again.trusted_since is None


def test_a_pair_for_other_names_is_replaced() -> None:
    other = issue(("old-name.modelship-system.svc",), T0, 100 * S)
    staged = plan(WebhookTLS(other, None, (other.ca_pem,)), T0, POLICY, trusting(other))
    assert staged.next is not None and staged.next.names == NAMES


def test_the_policy_and_the_settings_refuse_a_rotation_without_time_to_overlap() -> None:
    with pytest.raises(ValueError, match="rotate_before"):
        RotationPolicy(NAMES, lifetime=10 * S, rotate_before=10 * S, propagation=S)
    with pytest.raises(ValueError, match="admission_rotate_before_seconds"):
        OperatorSettings(admission_rotate_before_seconds=20, admission_reload_seconds=10)
    OperatorSettings(
        admission_certificate_lifetime_seconds=40,
        admission_rotate_before_seconds=20,
        admission_propagation_seconds=3,
        admission_reload_seconds=1,
    )


def as_stored(body: Obj) -> Obj:
    """A Secret as the API server returns it: null annotations dropped."""
    annotations = {k: v for k, v in body["metadata"]["annotations"].items() if v is not None}
    return {**body, "metadata": {**body["metadata"], "annotations": annotations}}


def test_the_secret_round_trips_and_a_damaged_one_is_refused_naming_the_key() -> None:
    old = issue(NAMES, T0, 100 * S)
    staged = plan(WebhookTLS(old, None, (old.ca_pem,)), T0 + 60 * S, POLICY, trusting(old))
    trusted = plan(staged, T0 + 61 * S, POLICY, staged.bundle)
    body = as_stored(secret_body("tls", "modelship-system", trusted))
    assert set(body["data"]) == {
        "ca.crt", "tls.crt", "tls.key", "next-ca.crt", "next.crt", "next.key", "ca-bundle.crt",
    }  # fmt: skip
    assert body["metadata"]["annotations"][TRUSTED_SINCE] == (T0 + 61 * S).isoformat()
    assert parse_secret(body) == trusted

    def damaged(**data: str | None) -> Obj:
        merged = {k: v for k, v in {**body["data"], **data}.items() if v is not None}
        return {**body, "data": merged}

    other = issue(NAMES, T0, 100 * S)

    def b64(pem: bytes) -> str:
        return base64.b64encode(pem).decode()

    cases = {
        "data['tls.key'] is missing": damaged(**{"tls.key": None}),
        "data['tls.crt'] is not base64": damaged(**{"tls.crt": "%%%"}),
        "not the key of data['tls.crt']": damaged(**{"tls.key": b64(other.key_pem)}),
        "not signed by data['ca.crt']": damaged(**{"ca.crt": b64(other.ca_pem)}),
        "does not hold data['next-ca.crt']": damaged(**{"ca-bundle.crt": b64(old.ca_pem)}),
        "neither": {"metadata": {}, "data": {}},
        "tls.crt": damaged(**{"tls.crt": b64(b"-----BEGIN CERTIFICATE-----\nAAAA\n")}),
    }
    for message, secret in cases.items():
        with pytest.raises(SecretError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_secret(secret)


def configuration(kind: str, *hooks: tuple[str, str]) -> Obj:
    """A webhook configuration as shipped: every webhook named by Service, caBundle empty."""
    return {
        "kind": kind,
        "metadata": {"name": "modelship-approvals", "namespace": ""},
        "webhooks": [
            {"name": name, "clientConfig": {"service": {
                "namespace": "modelship-system", "name": service, "path": "/mutate"}}}
            for name, service in hooks
        ],
    }  # fmt: skip


def cluster(annotate: bool = False) -> FakeKube:
    kube = FakeKube()
    mutating = configuration(
        "MutatingWebhookConfiguration",
        ("approvals.deployments.modelship.io", "modelship-operator-webhook"),
        ("spec-changes.models.modelship.io", "modelship-operator-webhook"),
        ("someone-elses.example.com", "another-service"),
    )
    validating = configuration(
        "ValidatingWebhookConfiguration",
        ("approvals.deployments.modelship.io", "modelship-operator-webhook"),
    )
    if annotate:
        inject = {"cert-manager.io/inject-ca-from": "modelship-system/modelship-operator-webhook"}
        mutating["metadata"]["annotations"] = inject
    kube.put(MUTATING_WEBHOOKS, mutating)
    kube.put(VALIDATING_WEBHOOKS, validating)
    return kube


SETTINGS = OperatorSettings(
    admission_secret="modelship-operator-webhook-tls",
    admission_certificate_lifetime_seconds=100,
    admission_rotate_before_seconds=40,
    admission_propagation_seconds=5,
    admission_reload_seconds=1,
)


def bundles(kube: FakeKube) -> dict[str, bytes]:
    found = {}
    for res in (MUTATING_WEBHOOKS, VALIDATING_WEBHOOKS):
        config = kube.get(res, None, "modelship-approvals")
        assert config is not None
        for hook in config["webhooks"]:
            bundle = hook["clientConfig"].get("caBundle", "")
            found[f"{res.kind}/{hook['name']}"] = base64.b64decode(bundle)
    return found


def served(kube: FakeKube) -> bytes:
    secret = kube.get(SECRETS, "modelship-system", "modelship-operator-webhook-tls")
    assert secret is not None
    return base64.b64decode(secret["data"].get("tls.crt", ""))


def test_the_leader_creates_the_secret_and_injects_its_ca_into_the_services_webhooks() -> None:
    kube = cluster()
    keeper = CertificateKeeper(kube, SETTINGS)
    first = keeper.check(T0)
    assert first is not None and first.current is not None
    assert served(kube) == first.current.cert_pem
    found = bundles(kube)
    assert found.pop("MutatingWebhookConfiguration/someone-elses.example.com") == b""  # not ours
    assert set(found.values()) == {first.current.ca_pem}
    secret = kube.get(SECRETS, "modelship-system", "modelship-operator-webhook-tls")
    assert secret is not None
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "modelship-operator"}
    # Steady: no further writes.
    writes = len(kube.written())
    keeper.check(T0 + S)
    assert len(kube.written()) == writes
    # Configurations applied again (caBundle empty): the same bundle is injected, no new pair.
    for res in (MUTATING_WEBHOOKS, VALIDATING_WEBHOOKS):
        config = kube.objects[(f"{res.group}/{res.plural}", "", "modelship-approvals")]
        for hook in config["webhooks"]:
            hook["clientConfig"].pop("caBundle", None)
    assert keeper.check(T0 + 2 * S) == first
    assert bundles(kube)["ValidatingWebhookConfiguration/approvals.deployments.modelship.io"] == (
        first.current.ca_pem
    )


def test_rotation_by_the_leader_keeps_every_served_pair_trusted() -> None:
    """At every check, each pair a replica may still serve (the one in the Secret now, or the
    one before it) is signed by a CA every webhook configuration trusts."""
    kube = cluster()
    keeper = CertificateKeeper(kube, SETTINGS)
    previous: bytes = b""
    seen = set()
    for second in range(0, 250):
        keeper.check(T0 + second * S)
        now_served = served(kube)
        for pem in {previous, now_served} - {b""}:
            cert = x509.load_pem_x509_certificate(pem)
            if cert.not_valid_after_utc <= T0 + second * S:
                continue
            for where, bundle in bundles(kube).items():
                if "someone-elses" in where:
                    continue
                issuers = {
                    x509.load_pem_x509_certificate(ca).subject for ca in split_bundle(bundle)
                }
                assert cert.issuer in issuers, (second, where)
        if now_served:
            seen.add(fingerprint(now_served))
        previous = now_served or previous
    assert len(seen) >= 4  # rotated every ~60 s over 250 s


def test_a_damaged_secret_is_replaced_and_the_ca_still_trusted_is_kept() -> None:
    kube = cluster()
    keeper = CertificateKeeper(kube, SETTINGS)
    for second in range(8):
        keeper.check(T0 + second * S)
    trusted_before = bundles(kube)[
        "ValidatingWebhookConfiguration/approvals.deployments.modelship.io"
    ]
    secret = kube.get(SECRETS, "modelship-system", "modelship-operator-webhook-tls")
    assert secret is not None
    kube.patch(SECRETS, "modelship-system", secret["metadata"]["name"],
               {"data": {"tls.key": base64.b64encode(b"garbage").decode()}})  # fmt: skip
    state = keeper.check(T0 + 9 * S)
    assert state is not None and state.next is not None and state.current is None
    # Replicas still serving the old pair stay trusted while the new one is staged.
    assert split_bundle(trusted_before)[0] in state.bundle


def test_with_cert_manager_the_operator_touches_neither_secret_nor_configurations() -> None:
    kube = cluster(annotate=True)
    assert CertificateKeeper(kube, SETTINGS).check(T0) is None
    assert kube.written() == []
    issued = cluster()
    issued.put(SECRETS, {
        "metadata": {"name": "modelship-operator-webhook-tls", "namespace": "modelship-system",
                     "annotations": {"cert-manager.io/certificate-name": "x"}},
        "data": {},
    })  # fmt: skip
    assert CertificateKeeper(issued, SETTINGS).check(T0) is None
    assert issued.written() == []
    # Nor a Secret someone else put there.
    foreign = cluster()
    foreign.put(SECRETS, {"metadata": {"name": "modelship-operator-webhook-tls",
                                       "namespace": "modelship-system"}, "data": {}})  # fmt: skip
    assert CertificateKeeper(foreign, SETTINGS).check(T0) is None
    assert foreign.written() == []


def test_a_write_based_on_a_stale_read_is_refused() -> None:
    kube = cluster()
    keeper = CertificateKeeper(kube, SETTINGS)
    keeper.check(T0)
    key = ("secrets", "modelship-system", "modelship-operator-webhook-tls")
    kube.objects[key]["metadata"]["resourceVersion"] = "7"
    stale = kube.get(SECRETS, "modelship-system", "modelship-operator-webhook-tls")
    kube.objects[key]["metadata"]["resourceVersion"] = "8"  # another writer got there first
    with pytest.raises(Exception, match="409"):
        keeper._write(stale, plan(None, T0, keeper.policy, ()))


# --- every replica: the Secret's pair, reloaded; nothing served without one -----------------

LOCAL = ("localhost",)


def local_secret(kube: FakeKube, pair: Pair | None, **data: str) -> None:
    body: Obj = {"metadata": {"name": "tls", "namespace": "modelship-system"}, "data": data}
    if pair is not None:
        body = secret_body("tls", "modelship-system", WebhookTLS(pair, None, (pair.ca_pem,)))
    kube.objects.pop(("secrets", "modelship-system", "tls"), None)
    kube.put(SECRETS, body)


def handshake(port: int, ca_pem: bytes) -> x509.Certificate:
    trust = ssl.create_default_context(cadata=ca_pem.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        trust.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_a_replica_loads_the_secrets_pair_and_keeps_it_when_the_secret_goes_bad() -> None:
    kube = FakeKube()
    cert = SecretCertificate(kube, "modelship-system", "tls")
    assert not cert.reload_if_changed() and not cert.loaded  # no Secret: nothing loaded
    local_secret(kube, None, **{"tls.crt": "bm90IGEgY2VydA=="})
    assert not cert.reload_if_changed() and not cert.loaded  # no key
    first = issue(LOCAL, datetime.datetime.now(datetime.UTC), datetime.timedelta(hours=1))
    local_secret(kube, first)
    assert cert.reload_if_changed() and cert.loaded
    assert not cert.reload_if_changed()  # unchanged
    other = issue(LOCAL, datetime.datetime.now(datetime.UTC), datetime.timedelta(hours=1))
    local_secret(kube, Pair(first.ca_pem, first.cert_pem, other.key_pem))
    assert not cert.reload_if_changed() and cert.loaded  # key not matching: keep the old one
    kube.objects.pop(("secrets", "modelship-system", "tls"))
    assert not cert.reload_if_changed() and cert.loaded  # deleted: keep serving
    local_secret(kube, other)
    assert cert.reload_if_changed()


async def test_the_server_does_not_listen_before_a_pair_and_swaps_pairs_live() -> None:
    kube = FakeKube()
    cert = SecretCertificate(kube, "modelship-system", "tls")
    server = AdmissionServer(kube, cert, ReviewPolicy())
    port = free_port()
    await server.start("127.0.0.1", port, reload_seconds=0.05)
    try:
        await asyncio.sleep(0.2)
        # Fail closed: no certificate, no listener (neither plain HTTP nor an empty TLS).
        with pytest.raises(ConnectionRefusedError):
            await asyncio.to_thread(handshake, port, b"")
        first = issue(LOCAL, datetime.datetime.now(datetime.UTC), datetime.timedelta(hours=1))
        local_secret(kube, first)
        for _ in range(100):
            if server.listening:
                break
            await asyncio.sleep(0.05)
        got = await asyncio.to_thread(handshake, port, first.ca_pem)
        assert got == first.cert
        second = issue(LOCAL, datetime.datetime.now(datetime.UTC), datetime.timedelta(hours=1))
        local_secret(kube, second)
        for _ in range(100):
            got = await asyncio.to_thread(handshake, port, second.ca_pem + first.ca_pem)
            if got == second.cert:
                break
            await asyncio.sleep(0.05)
        assert got == second.cert  # the same listener, the new pair: no restart
        # A pair that does not load leaves the served one in place.
        local_secret(kube, Pair(second.ca_pem, second.cert_pem, first.key_pem))
        await asyncio.sleep(0.3)
        assert await asyncio.to_thread(handshake, port, second.ca_pem) == second.cert
        # Stopping with a drain: still answering meanwhile, then gone.
        stopping = asyncio.create_task(server.stop(drain_seconds=0.5))
        await asyncio.sleep(0.1)
        assert await asyncio.to_thread(handshake, port, second.ca_pem) == second.cert
        await stopping
        with pytest.raises(ConnectionRefusedError):
            await asyncio.to_thread(handshake, port, second.ca_pem)
    finally:
        await server.stop()


def test_an_answer_names_the_replica_that_gave_it_in_the_audit_log() -> None:
    answer = response("u-1", Verdict(True), [], replica="modelship-operator-abc")["response"]
    assert answer["auditAnnotations"] == {"served-by": "modelship-operator-abc"}
    assert "auditAnnotations" not in response("u-1", Verdict(True), [])["response"]
